"""Run by tests/transfer/test_habitat_lab.py inside .venv-habitat (habitat-lab's numpy 1.26 / gym 0.22):
the perception sensor against the real habitat-lab classes, without the simulator.

    .venv-habitat/bin/python tests/transfer/habitat_lab_check.py <semseg transfer run dir>

Prints one JSON line of what it checked; any failed check raises (non-zero exit)."""

import importlib.util
import json
import sys
import types

import numpy as np

# habitat/__init__.py imports the simulator (magnum, habitat_sim: only habitat-sim ships them); its core
# does not. Register the installed package as a bare module so habitat.core / habitat.config import alone.
spec = importlib.util.find_spec("habitat")
assert spec is not None, "habitat-lab is not installed in this interpreter"
habitat = types.ModuleType("habitat")
habitat.__path__ = list(spec.submodule_search_locations)
sys.modules["habitat"] = habitat

import gym  # noqa: E402
from habitat.core.registry import registry  # noqa: E402
from habitat.core.simulator import Sensor, SensorSuite, SensorTypes  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from tst.transfer.habitat_plugin import UUID, register_habitat_sensor  # noqa: E402
from tst.transfer.perception import Perception  # noqa: E402

head = sys.argv[1]
PerceptionSensor, PerceptionSensorConfig = register_habitat_sensor()
assert registry.get_sensor("TstPerceptionSensor") is PerceptionSensor  # habitat builds lab sensors by this name
assert issubclass(PerceptionSensor, Sensor)


def make(uuid=None):
    kw = {"heads": [head], "device": "cpu", "width": 48, "height": 40, **({"uuid": uuid} if uuid else {})}
    return PerceptionSensor(sim=None, config=OmegaConf.structured(PerceptionSensorConfig(**kw)))


default, left, right = make(), make("tst_semseg_left"), make("tst_semseg_right")
assert (default.uuid, left.uuid, right.uuid) == (UUID, "tst_semseg_left", "tst_semseg_right")
assert default.sensor_type == SensorTypes.SEMANTIC
space = left.observation_space
assert isinstance(space, gym.spaces.Box) and space.shape == (40, 48) and space.dtype == np.uint16

rng = np.random.default_rng(0)
rgba = np.concatenate([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), np.full((40, 48, 1), 255, np.uint8)], 2)
sim_obs = {"rgb": rgba, "depth": rng.uniform(0.5, 4.0, (40, 48, 1)).astype(np.float32)}
suite = SensorSuite([left, right])  # habitat refuses two sensors with one uuid
obs = suite.get_observations(observations=sim_obs, episode=None, task=None)
want = Perception.from_run([head], device="cpu")({"rgb": rgba[..., :3]})["semseg"]
for key in ("tst_semseg_left", "tst_semseg_right"):
    assert obs[key].dtype == np.uint16 and obs[key].shape == (40, 48)
    assert space.contains(obs[key])
    np.testing.assert_array_equal(obs[key], want)
assert set(left.last_result) == {"semseg"}
try:
    SensorSuite([make(), make()])
    raise AssertionError("habitat accepted two sensors with the same uuid")
except AssertionError as e:
    assert "duplicated sensor uuid" in str(e), e
print(json.dumps({"numpy": np.__version__, "gym": gym.__version__, "uuids": sorted(obs),
                  "classes": sorted(int(c) for c in np.unique(want))}))
