"""The perception plugin as a habitat-lab sensor (optional: habitat-lab is imported only when asked).

    from tst.transfer.habitat_plugin import register_habitat_sensor

    PerceptionSensor, PerceptionSensorConfig = register_habitat_sensor()
    with habitat.config.read_write(config):
        config.habitat.task.lab_sensors["tst_perception"] = PerceptionSensorConfig(heads=["runs/tr_semseg"])
    env = habitat.Env(config=config)
    obs = env.reset()            # obs["tst_semseg"]: uint16 [H, W] predicted class ids

The sensor reads the simulator's ``rgb`` (and ``depth``) observations of the same step, runs
``Perception`` on them, and returns the semseg map as its observation (a fixed-shape array, which
is what habitat's observation spaces and batching need). The whole result, with detections and
caption, is kept on ``sensor.last_result`` for agents that want them. Without a semseg head the
observation is an all-zero map and only ``last_result`` carries the predictions.

habitat-lab is not a dependency of tst (``pip install -e ".[habitat]"``, or habitat-lab from its
repository): without it ``register_habitat_sensor`` raises ImportError saying what to install.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SENSOR_NAME = "TstPerceptionSensor"
UUID = "tst_semseg"
INSTALL = ("the habitat sensor needs habitat-lab (and habitat-sim), which are not installed: "
           "pip install -e \".[habitat]\" or install habitat-lab from https://github.com/facebookresearch/habitat-lab; "
           "without them use tst.Perception directly on observation dicts")


def perceive_habitat(perception: Any, observations: Mapping[str, Any], rgb_key: str = "rgb",
                     depth_key: str = "depth") -> tuple[np.ndarray, dict[str, Any]]:
    """habitat-sim observations -> (uint16 [H, W] semseg, full Perception result).

    ``observations[rgb_key]`` is uint8 [H, W, 3|4]; ``observations[depth_key]`` (optional) float
    metres [H, W, 1]. The map is all zeros when no semseg head is loaded."""
    if rgb_key not in observations:
        raise KeyError(f"the simulator gave no {rgb_key!r} observation (keys: {sorted(observations)}); add an RGB "
                       f"sensor with uuid {rgb_key!r} to the agent's sim_sensors, or set rgb_uuid")
    obs = {"rgb": observations[rgb_key]}
    if depth_key in observations:
        obs["depth"] = observations[depth_key]
    result = perception(obs)
    h, w = np.asarray(obs["rgb"]).shape[:2]
    semseg = result.get("semseg", np.zeros((h, w), np.uint16))
    return semseg, result


def register_habitat_sensor(name: str = SENSOR_NAME):
    """Register the sensor with habitat-lab's registry and Hydra ConfigStore; returns (sensor class,
    config dataclass). Raises ImportError when habitat-lab is missing."""
    try:
        import habitat
        from habitat.config.default_structured_configs import LabSensorConfig
        from hydra.core.config_store import ConfigStore
    except ImportError as e:
        raise ImportError(INSTALL) from e
    try:
        from gym import spaces
    except ImportError:  # newer habitat-lab builds on gymnasium
        from gymnasium import spaces
    from dataclasses import dataclass, field

    from tst.transfer.perception import Perception

    @dataclass
    class PerceptionSensorConfig(LabSensorConfig):
        type: str = name
        heads: list = field(default_factory=list)  # transfer run directories
        device: str = "auto"
        score_threshold: float = 0.5
        rgb_uuid: str = "rgb"
        depth_uuid: str = "depth"
        width: int = 256  # must match the rgb sensor's resolution
        height: int = 256

    @habitat.registry.register_sensor(name=name)
    class PerceptionSensor(habitat.Sensor):
        def __init__(self, sim: Any, config: Any, *args: Any, **kwargs: Any):
            heads: Sequence[str] = list(config.heads)
            self.perception = Perception.from_run(heads, device=config.device,
                                                  score_threshold=float(config.score_threshold))
            self.last_result: dict[str, Any] = {}
            self._sim = sim
            super().__init__(config=config)

        def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
            return UUID

        def _get_sensor_type(self, *args: Any, **kwargs: Any):
            return habitat.SensorTypes.SEMANTIC

        def _get_observation_space(self, *args: Any, **kwargs: Any):
            return spaces.Box(low=0, high=np.iinfo(np.uint16).max, shape=(self.config.height, self.config.width),
                              dtype=np.uint16)

        def get_observation(self, observations: Mapping[str, Any], *args: Any, **kwargs: Any) -> np.ndarray:
            semseg, self.last_result = perceive_habitat(self.perception, observations, self.config.rgb_uuid,
                                                        self.config.depth_uuid)
            return semseg

    ConfigStore.instance().store(package="habitat.task.lab_sensors.tst_perception", group="habitat/task/lab_sensors",
                                 name="tst_perception", node=PerceptionSensorConfig)
    return PerceptionSensor, PerceptionSensorConfig
