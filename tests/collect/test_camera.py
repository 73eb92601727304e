"""The camera a space is seen through: the identity by default, each setting what it says, applied to the rgb
member alone, deterministic per view, and bad settings refused by name."""

import numpy as np
import pytest

from tests.collect import compose_collect
from tst.collect.camera import Camera, camera_from_config
from tst.collect.run import run as collect
from tst.dataset import ShardDataset


def test_each_setting_does_what_it_says():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert Camera().identity and Camera().apply(rgb, rng) is rgb
    wb = Camera(white_balance=(1.0, 0.5, 2.0)).apply(rgb, rng).astype(int)
    assert np.array_equal(wb[..., 0], rgb[..., 0])  # a gain of 1 keeps the channel
    assert np.abs(wb[..., 1] - rgb[..., 1] * 0.5).max() <= 0.5
    assert np.array_equal(wb[..., 2], np.minimum(rgb[..., 2].astype(int) * 2, 255))  # clipped, not wrapped
    g = Camera(gamma=0.5).apply(rgb, rng).astype(float)
    assert np.abs(g - 255 * np.sqrt(rgb / 255.0)).max() <= 0.5001
    flat = np.full((16, 16, 3), 100, np.uint8)
    assert np.array_equal(Camera(blur=2.0).apply(flat, rng), flat)  # blur keeps a flat image
    edge = np.zeros((16, 16, 3), np.uint8)
    edge[:, 8:] = 255
    b = Camera(blur=1.0).apply(edge, rng)
    assert 0 < b[0, 7, 0] < 255 and 0 < b[0, 8, 0] < 255  # and softens an edge
    n1 = Camera(noise=0.05).apply(flat, np.random.default_rng(3))
    n2 = Camera(noise=0.05).apply(flat, np.random.default_rng(3))
    assert np.array_equal(n1, n2) and 8 < float(n1.astype(float).std()) < 18  # sigma 0.05 * 255 = 12.75


@pytest.mark.parametrize("block, match", [
    ({"white_balance": [1, 1]}, r"camera.white_balance=\[1.0, 1.0\] is invalid; give three positive gains"),
    ({"white_balance": [1, 0, 1]}, "camera.white_balance"),
    ({"gamma": 0}, r"camera.gamma=0.0 is invalid"),
    ({"blur": -1}, r"camera.blur=-1.0 is invalid"),
    ({"noise": -0.1}, r"camera.noise=-0.1 is invalid"),
    ({"exposure": 2}, r"camera.exposure is not a camera setting; known: white_balance, gamma, blur, noise"),
])
def test_bad_camera_settings_are_refused_by_name(block, match):
    with pytest.raises(ValueError, match=match):
        camera_from_config(block)


def test_collect_sees_the_space_through_the_camera_and_nothing_else_changes(tmp_path):
    plain = collect(compose_collect(tmp_path / "plain", "frames=4", "shard_size=4", "split=eval"))
    cam = ["camera.white_balance=[1.2,1.0,0.7]", "camera.gamma=0.8", "camera.noise=0.02"]
    seen = collect(compose_collect(tmp_path / "seen", "frames=4", "shard_size=4", "split=eval", *cam))
    again = collect(compose_collect(tmp_path / "again", "frames=4", "shard_size=4", "split=eval", *cam))
    assert seen["content_hash"] == again["content_hash"] != plain["content_hash"]  # deterministic, and different
    mods = ("rgb", "depth", "semseg", "instance")
    a, b = ShardDataset(tmp_path / "plain", mods, stored=True), ShardDataset(tmp_path / "seen", mods, stored=True)
    camera = camera_from_config({"white_balance": [1.2, 1.0, 0.7], "gamma": 0.8, "noise": 0.02})
    for i in range(4):
        x, y = a[i], b[i]
        for m in ("depth", "semseg", "instance"):
            assert np.array_equal(x[m].numpy(), y[m].numpy())  # the scene as it is
        want = camera.apply(x["rgb"].permute(1, 2, 0).numpy(), np.random.default_rng([0, i, 1]))
        assert np.array_equal(y["rgb"].permute(1, 2, 0).numpy(), want)


def test_a_sweep_names_a_space_seen_through_another_camera(tmp_path):
    from tst.pipeline import Grid, compose_config, plan_jobs

    cam = ("scene=synth", "scene.seed=0", "camera.white_balance=[1.15,1.0,0.75]", "camera.gamma=0.7")
    jobs = {j.name: j for j in plan_jobs(Grid(scenes=("cam0",), spaces={"cam0": cam}, inits=("tst",),
                                              tasks=("semseg",)), tmp_path)}
    for split in ("pretrain", "eval"):  # both of the space's collections see it through the camera
        cfg = compose_config("collect", list(jobs[f"data/cam0/{split}"].argv(tmp_path)))
        assert camera_from_config(cfg.camera) == Camera((1.15, 1.0, 0.75), 0.7)
    assert camera_from_config(compose_config("collect", list(jobs["data/external"].argv(tmp_path))).camera).identity
