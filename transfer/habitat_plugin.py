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
observation is an all-zero map and only ``last_result`` carries the predictions. Its observation key
is the config's ``uuid`` (default ``tst_semseg``): give each instance its own (e.g. one per camera
or per set of heads), as habitat's ``SensorSuite`` refuses two sensors with one uuid.

Only ``habitat.core`` and ``habitat.config`` are used, so the sensor is tested against the real
habitat-lab classes without the simulator (tests/transfer/test_habitat_lab.py, in the separate
``.venv-habitat``: habitat-lab pins numpy 1.26 and gym < 0.23). Without habitat-lab,
``register_habitat_sensor`` raises ImportError saying what to install.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SENSOR_NAME = "TstPerceptionSensor"
UUID = "tst_semseg"
INSTALL = ("the habitat sensor needs habitat-lab, which is not installed. It pins numpy 1.26 and gym < 0.23, "
           "so install it in its own environment: pip install habitat-lab (PyPI), plus habitat-sim for a "
           "simulator to run (no PyPI wheel: conda install habitat-sim -c conda-forge -c aihabitat, or build "
           "it from https://github.com/facebookresearch/habitat-sim). Without them use tst.Perception directly "
           "on observation dicts")


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
    try:  # habitat.core / habitat.config only: they work without habitat-sim
        from habitat.config.default_structured_configs import LabSensorConfig
        from habitat.core.registry import registry
        from habitat.core.simulator import Sensor, SensorTypes
        from hydra.core.config_store import ConfigStore
    except ImportError as e:
        raise ImportError(f"{INSTALL} ({e.name or e} is missing)") from e
    try:
        from gym import spaces
    except ImportError:  # newer habitat-lab builds on gymnasium
        from gymnasium import spaces
    from dataclasses import dataclass, field

    from tst.transfer.perception import Perception

    @dataclass
    class PerceptionSensorConfig(LabSensorConfig):
        type: str = name
        uuid: str = UUID  # the observation key; one per instance (habitat's Sensor reads config.uuid)
        heads: list = field(default_factory=list)  # transfer run directories
        device: str = "auto"
        score_threshold: float = 0.5
        rgb_uuid: str = "rgb"
        depth_uuid: str = "depth"
        width: int = 256  # must match the rgb sensor's resolution
        height: int = 256

    @registry.register_sensor(name=name)
    class PerceptionSensor(Sensor):
        def __init__(self, sim: Any, config: Any, *args: Any, **kwargs: Any):
            heads: Sequence[str] = list(config.heads)
            self.perception = Perception.from_run(heads, device=config.device,
                                                  score_threshold=float(config.score_threshold))
            self.last_result: dict[str, Any] = {}
            self._sim = sim
            super().__init__(config=config)

        def _get_uuid(self, *args: Any, **kwargs: Any) -> str:
            return str(getattr(self.config, "uuid", UUID))

        def _get_sensor_type(self, *args: Any, **kwargs: Any):
            return SensorTypes.SEMANTIC

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
