"""The perception plugin: observation formats, batching, resizing, outputs equal to the heads', bad input."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.envs.fixtures import make_box_room
from tests.transfer.test_deploy import deploy_space
from tst.envs.camera import Intrinsics
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.shards import iter_split
from tst.transfer.habitat_plugin import perceive_habitat, register_habitat_sensor
from tst.transfer.head_checkpoint import load_head
from tst.transfer.perception import Perception


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)


@pytest.fixture(scope="module")
def perceive(space):
    return Perception.from_run([space["semseg"], space["det"], space["caption"]], device="cpu", score_threshold=0.0)


@pytest.fixture(scope="module")
def obs(space):
    s = next(iter_split(space["eval"]))
    return {"rgb": s["rgb"], "depth": s["depth"]}


def test_from_tst_import_is_lazy_and_the_same_class():
    from tst import Perception as P

    assert P is Perception
    code = "import sys, tst; assert 'torch' not in sys.modules; print('light')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "light\n"


def test_one_observation_gives_every_head_in_its_documented_format(perceive, obs):
    out = perceive(obs)
    assert set(out) == {"semseg", "detections", "caption"}
    assert out["semseg"].dtype == np.uint16 and out["semseg"].shape == (64, 64)
    assert set(np.unique(out["semseg"])) <= set(perceive.classes("semseg"))
    d = out["detections"]
    n = len(d["scores"])
    assert d["boxes"].shape == (n, 4) and d["boxes"].dtype == np.float32 and d["labels"].dtype == np.int64
    assert d["names"] == [perceive.classes("det")[int(c)] for c in d["labels"]]
    assert isinstance(out["caption"], str)


def test_outputs_equal_the_transferred_models(perceive, obs, space):
    x = torch.from_numpy(obs["rgb"]).permute(2, 0, 1)[None].float() / 255
    task, model, _ = load_head(space["semseg"])
    np.testing.assert_array_equal(perceive(obs)["semseg"], task.predict(model, {"rgb": x})[0]["semseg"].numpy())
    task, model, _ = load_head(space["caption"])
    assert perceive(obs)["caption"] == task.predict(model, {"rgb": x})[0]["caption"]


def test_habitat_rgba_and_depth_channel_and_batches_give_the_same_answer(perceive, obs):
    one = perceive(obs)
    rgba = np.concatenate([obs["rgb"], np.full((64, 64, 1), 255, np.uint8)], axis=2)
    hab = perceive({"rgb": rgba, "depth": obs["depth"][..., None]})
    np.testing.assert_array_equal(hab["semseg"], one["semseg"])
    assert hab["caption"] == one["caption"]
    flipped = {"rgb": np.ascontiguousarray(obs["rgb"][:, ::-1])}
    listed = perceive([obs, flipped])
    stacked = perceive(np.stack([obs["rgb"], flipped["rgb"]]))
    assert isinstance(listed, list) and len(listed) == 2
    for a, b in zip(listed, stacked):
        np.testing.assert_array_equal(a["semseg"], b["semseg"])
    np.testing.assert_array_equal(listed[0]["semseg"], one["semseg"])
    np.testing.assert_allclose(listed[0]["detections"]["scores"], one["detections"]["scores"], atol=1e-5)
    np.testing.assert_array_equal(listed[1]["semseg"], perceive(flipped)["semseg"])


def test_other_sizes_are_resized_in_and_out(perceive, obs):
    perceive = Perception({k: perceive.heads[k] for k in ("semseg", "det")}, score_threshold=0.0)  # caption: above
    big = np.repeat(np.repeat(obs["rgb"], 2, axis=0), 2, axis=1)  # 128 x 128, the same picture
    out = perceive(big)
    assert out["semseg"].shape == (128, 128)
    # bilinear 128 -> 64 of a 2x nearest upscale is the original image, so labels come back 2x nearest
    np.testing.assert_array_equal(out["semseg"][::2, ::2], perceive(obs)["semseg"])
    boxes = out["detections"]["boxes"]
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= 128).all() and (boxes[:, [1, 3]] <= 128).all()
    odd = perceive(np.ascontiguousarray(obs["rgb"][:48, :40]))
    assert odd["semseg"].shape == (48, 40)


def test_runs_under_inference_mode(space, obs):
    p = Perception.from_run(space["semseg"], device="cpu")
    seen = []
    p.heads["semseg"][1].register_forward_hook(lambda *_: seen.append(torch.is_inference_mode_enabled()))
    out = p(obs)
    assert seen == [True] and set(out) == {"semseg"}  # only the heads that were loaded


def test_wrong_observations_say_what_is_expected(perceive, obs):
    with pytest.raises(ValueError, match=r"dtype float32.*expected an observation dict \{'rgb': uint8"):
        perceive({"rgb": obs["rgb"].astype(np.float32) / 255})
    with pytest.raises(ValueError, match=r"shape \(64, 64, 2\)"):
        perceive({"rgb": obs["rgb"][..., :2]})
    with pytest.raises(ValueError, match="no 'rgb'.*keys: \\['color'\\]"):
        perceive({"color": obs["rgb"]})
    with pytest.raises(ValueError, match="depth .* but the rgb is 64x64"):
        perceive({"rgb": obs["rgb"], "depth": obs["depth"][:32]})
    with pytest.raises(ValueError, match="depth has dtype uint16"):
        perceive({"rgb": obs["rgb"], "depth": (obs["depth"] * 1000).astype(np.uint16)})
    with pytest.raises(KeyError, match=r"no 'det' head loaded; loaded heads: \['semseg'\]"):
        Perception({"semseg": perceive.heads["semseg"]}).task("det")


def test_devices(space):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device.*device=auto"):
            Perception.from_run(space["semseg"], device="cuda")
    assert Perception.from_run(space["semseg"], device="auto").device.type == ("cuda" if torch.cuda.is_available()
                                                                                else "cpu")
    with pytest.raises(ValueError, match="choose auto, cpu or cuda"):
        Perception.from_run(space["semseg"], device="tpu")


def test_habitat_plugin_without_habitat_lab_and_its_pure_part(perceive):
    try:
        import habitat  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"needs habitat-lab.*own environment: pip install habitat-lab.*"
                                              r"conda install habitat-sim"):
            register_habitat_sensor()
    view = Open3DRenderer(make_box_room(), threads=1).render(
        Intrinsics.from_fov(64, 64), np.array([[1, 0, 0, 1.0], [0, 0, 1, 0.5], [0, -1, 0, 1.2], [0, 0, 0, 1]]))
    sim_obs = {"rgb": np.concatenate([view["rgb"], np.full((64, 64, 1), 255, np.uint8)], 2),
               "depth": view["depth"][..., None]}
    semseg, result = perceive_habitat(perceive, sim_obs)
    assert semseg.dtype == np.uint16 and semseg.shape == (64, 64)
    np.testing.assert_array_equal(semseg, result["semseg"])
    assert set(result) == {"semseg", "detections", "caption"}
    only_caption = Perception({"caption": perceive.heads["caption"]})
    semseg, result = perceive_habitat(only_caption, sim_obs)
    assert not semseg.any() and set(result) == {"caption"}  # no semseg head: an all-zero map
    with pytest.raises(KeyError, match="no 'rgb' observation.*rgb_uuid"):
        perceive_habitat(perceive, {"color_sensor": view["rgb"]})
