"""tst collect end to end on a box room: the shard contract, determinism across workers, the
external split mechanics, and every bad input of the issue failing with a clear message."""

import errno
import hashlib
import json
import tarfile

import numpy as np
import pytest

from tests.collect import compose_collect
from tests.envs.fixtures import make_box_room
from tst.collect.collector import CollectError
from tst.collect.run import run
from tst.envs.camera import Intrinsics
from tst.envs.policies.base import CameraPolicy, PolicyError
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.envs.scene import scene_hash
from tst.modalities import encode_depth
from tst.rundir import RunDirError
from tst.shards import ShardWriter, iter_split


def _names(path):
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_pretrain_split_follows_the_shard_contract(tmp_path):
    out = tmp_path / "pre"
    res = run(compose_collect(out, "frames=10", "shard_size=4", "extras=[edges]"))
    shards = sorted(out.glob("shard-*.tar"))
    assert [p.name for p in shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert _names(shards[2]) == [f"{k}.{s}" for k in ("00000008", "00000009")
                                 for s in ("rgb.png", "depth.png", "normal.png", "edges.png", "meta.json")]
    m = json.loads((out / "manifest.json").read_text())
    assert m["split"] == "pretrain" and m["counts"] == {"pretrain": 10} and m["complete"]
    assert m["modalities"] == ["rgb", "depth", "normal", "edges"]
    assert m["classes"] == {"0": "unlabelled", "1": "floor", "2": "ceiling", "3": "wall", "4": "table"}
    assert m["scene_hashes"] == {"box_room": scene_hash(make_box_room())} and m["seed"] == 0
    assert m["config"]["frames"] == 10
    whole = hashlib.sha256(b"".join(p.read_bytes() for p in shards)).hexdigest()
    assert m["content_hash"] == whole == res["content_hash"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["collect/frames"] == 10 and metrics["collect/frames_per_s"] > 0
    assert (out / "config.yaml").exists() and (out / "provenance.json").exists()
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["collect/frames_done"] for r in logged if "collect/frames_done" in r] == [4, 8, 10]  # per shard

    # every stored pixel is what the renderer gives for the pose written in meta.json
    renderer = Open3DRenderer(make_box_room(), threads=1)
    samples = list(iter_split(out))
    assert [s["__key__"] for s in samples] == [f"{i:08d}" for i in range(10)]
    for s in samples[:3]:
        meta = s["meta"]
        assert meta["scene_id"] == "box_room" and meta["split"] == "pretrain" and meta["index"] == int(s["__key__"])
        k = Intrinsics.from_dict(meta["intrinsics"])
        assert (k.width, k.height, k.cx, k.fx) == (64, 64, 32.0, pytest.approx(32.0))
        ref = renderer.render(k, np.array(meta["cam_to_world"]))
        np.testing.assert_array_equal(s["rgb"], ref["rgb"])
        np.testing.assert_array_equal(np.rint(s["depth"] * 1000), encode_depth(ref["depth"]))
        assert set(np.unique(s["edges"])) <= {0, 255}


def test_workers_write_byte_identical_shards(tmp_path):
    one = run(compose_collect(tmp_path / "w1", "frames=12", "shard_size=4", "split=eval"))
    two = run(compose_collect(tmp_path / "w2", "frames=12", "shard_size=4", "split=eval", "workers=2"))
    assert one["content_hash"] == two["content_hash"]
    for k in range(3):
        name = f"shard-{k:06d}.tar"
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()


def test_eval_split_has_labels_and_separate_poses(tmp_path):
    run(compose_collect(tmp_path / "pre", "frames=4", "shard_size=4"))
    run(compose_collect(tmp_path / "ev", "frames=4", "shard_size=4", "split=eval", "rgb_format=jpg"))
    pre, ev = list(iter_split(tmp_path / "pre")), list(iter_split(tmp_path / "ev"))
    assert "semseg" not in pre[0] and ev[0]["semseg"].dtype == np.uint16
    assert set(np.unique(ev[0]["semseg"])) <= {0, 1, 2, 3, 4}
    assert set(np.unique(ev[0]["instance"])) <= set(range(8))
    assert "00000000.rgb.jpg" in _names(tmp_path / "ev" / "shard-000000.tar")
    p0 = np.array([s["meta"]["cam_to_world"] for s in pre])
    p1 = np.array([s["meta"]["cam_to_world"] for s in ev])
    assert np.linalg.norm(p0[:, :3, 3] - p1[:, :3, 3], axis=1).min() > 1e-3  # not the same trajectory


def test_external_split_renders_other_spaces_evenly(tmp_path):
    seeded = {"_target_": "tests.collect.seeded_room", "seed": 0}
    cfg = compose_collect(tmp_path / "ext", "frames=7", "shard_size=4", "split=external", scene=seeded,
                          external_seeds=[5, 6, 7])
    run(cfg)
    samples = list(iter_split(tmp_path / "ext"))
    assert [s["meta"]["scene_id"] for s in samples] == ["room5", "room6", "room7"] * 2 + ["room5"]
    m = json.loads((tmp_path / "ext/manifest.json").read_text())
    assert m["counts_per_scene"] == {"room5": 3, "room6": 2, "room7": 2} and m["scene_ids"] == ["room5", "room6", "room7"]
    assert "coco" in m  # finish_split ran on the labelled split
    xs = {s["meta"]["scene_id"]: s["meta"]["cam_to_world"][0][3] for s in samples}
    assert xs["room7"] < 3.5 + 0.25 * 3  # camera inside its own (wider) room
    with pytest.raises(ValueError, match=r"external_seeds.*scene\.seed=6"):
        run(compose_collect(tmp_path / "bad", "split=external", scene={**seeded, "seed": 6}, external_seeds=[5, 6]))
    with pytest.raises(ValueError, match="external_scenes"):
        run(compose_collect(tmp_path / "bad2", "split=external"))  # box room: no seed, no list


def test_external_scenes_with_different_vocabularies_share_one(tmp_path):
    a = {"_target_": "tests.envs.fixtures.make_box_room", "scene_id": "a"}
    b = {"_target_": "tests.collect.relabelled_room", "scene_id": "b"}
    run(compose_collect(tmp_path / "x", "frames=6", "split=external", external_scenes=[a, b]))
    m = json.loads((tmp_path / "x/manifest.json").read_text())
    assert m["scene_ids"] == ["a", "b"]
    assert m["classes"] == {"0": "unlabelled", "1": "floor", "2": "ceiling", "3": "wall", "4": "table", "5": "lamp"}
    for s in iter_split(tmp_path / "x"):
        # instance ids are the box room's in both scenes; their classes must read the same in the split
        inst, sem = s["instance"], s["semseg"]
        for instance, cls in ((1, 1), (2, 2), (3, 3), (7, 4)):
            assert (sem[inst == instance] == cls).all(), (s["meta"]["scene_id"], instance)


def test_full_disk_fails_clearly_and_keeps_written_shards(tmp_path, monkeypatch):
    original = ShardWriter.write
    calls = {"n": 0}

    def write(self, key, members):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, key, members)

    monkeypatch.setattr(ShardWriter, "write", write)
    with pytest.raises(CollectError, match=r"shard-000001\.tar.*No space left.*disk is full.*resumes"):
        run(compose_collect(tmp_path / "full", "frames=12", "shard_size=4"))
    assert sorted(p.name for p in (tmp_path / "full").glob("shard-*")) == ["shard-000000.tar"]
    assert not list((tmp_path / "full").glob(".shard-*"))  # the partial shard was dropped


def test_unwritable_output_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunDirError, match="cannot write the run directory.*writable out="):
        run(compose_collect(blocker / "sub", "frames=2"))


def test_scene_without_free_space_is_a_clear_error(tmp_path):
    low = {"_target_": "tests.envs.fixtures.make_box_room", "height": 0.5}
    with pytest.raises(CollectError, match=r"planned no camera pose.*cannot place cameras.*box_room"):
        run(compose_collect(tmp_path / "low", "frames=4", scene=low))


class ShortPolicy(CameraPolicy):
    """Plans at most ``limit`` poses (a stand-in for an exploration that stops early)."""

    def __init__(self, scene, free_space, limit: int = 5):
        from tst.envs.policies.random import RandomPolicy
        from tst.envs.scene import Scene

        assert isinstance(scene, Scene)  # not an OmegaConf copy made by instantiate
        self.inner, self.limit = RandomPolicy(scene, free_space), limit

    def plan(self, n, seed):
        poses = self.inner.plan(min(n, self.limit), seed)
        if n > self.limit:
            err = PolicyError(f"only {self.limit} poses are reachable")
            err.poses = poses
            raise err
        return poses


def test_policy_that_cannot_reach_the_frame_count_keeps_what_it_wrote(tmp_path):
    policy = {"_target_": "tests.collect.test_run.ShortPolicy", "limit": 5}
    with pytest.raises(CollectError, match=r"could not reach frames=8.*only 5 poses.*Kept the 5 frames"):
        run(compose_collect(tmp_path / "short", "frames=8", "shard_size=2", policy=policy))
    m = json.loads((tmp_path / "short/manifest.json").read_text())
    assert m["complete"] is False and m["counts"] == {"pretrain": 5}
    assert len(list(iter_split(tmp_path / "short"))) == 5


def test_existing_output_with_a_different_config_is_refused(tmp_path):
    run(compose_collect(tmp_path / "r", "frames=2"))
    with pytest.raises(RunDirError, match=r"different config \(seed: 0 -> 1.*overwrite=true"):
        run(compose_collect(tmp_path / "r", "frames=2", "seed=1"))
    res = run(compose_collect(tmp_path / "r", "frames=2", "seed=1", "overwrite=true"))
    assert json.loads((tmp_path / "r/manifest.json").read_text())["seed"] == 1 and res["collect/frames"] == 2


def test_bad_values_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="split='train'.*pretrain"):
        run(compose_collect(tmp_path / "a", "split=train"))
    with pytest.raises(ValueError, match="rgb_format"):
        run(compose_collect(tmp_path / "b", "rgb_format=webp"))
    with pytest.raises(ValueError, match="'caption' needs labels"):
        run(compose_collect(tmp_path / "c", "extras=[caption]"))


def test_debug_tiny_composes_to_small_settings(tmp_path):
    cfg = compose_collect(tmp_path / "t", "debug=tiny")
    assert (cfg.frames, cfg.resolution, cfg.shard_size, cfg.logger.kind) == (16, 64, 8, "none")
    res = run(cfg)
    assert res["collect/frames"] == 16 and len(list((tmp_path / "t").glob("shard-*.tar"))) == 2


def test_leakage_report_and_enforced_separation(tmp_path):
    run(compose_collect(tmp_path / "pre", "frames=24", "shard_size=8"))
    ref = f"leakage_ref={tmp_path / 'pre'}"
    loose = {"max_dist": 1.0, "max_angle": 45.0}
    run(compose_collect(tmp_path / "ev", "frames=12", "split=eval", ref, leakage={**loose, "enforce": False}))
    report = json.loads((tmp_path / "ev/manifest.json").read_text())["leakage"]
    assert report["fraction_close"] > 0  # 24 random views in a 4 x 3 m room: some eval views leak
    run(compose_collect(tmp_path / "sep", "frames=12", "split=eval", ref, leakage={**loose, "enforce": True}))
    m = json.loads((tmp_path / "sep/manifest.json").read_text())
    assert m["leakage"]["fraction_close"] == 0.0 and m["counts"] == {"eval": 12}
    pre = np.array([s["meta"]["cam_to_world"] for s in iter_split(tmp_path / "pre")])
    for s in iter_split(tmp_path / "sep"):
        T = np.array(s["meta"]["cam_to_world"])
        dist = np.linalg.norm(pre[:, :3, 3] - T[:3, 3], axis=1)
        angle = np.degrees(np.arccos(np.clip(pre[:, :3, 2] @ T[:3, 2], -1, 1)))
        assert not ((dist < 1.0) & (angle < 45.0)).any()
    with pytest.raises(ValueError, match="leakage.enforce"):
        run(compose_collect(tmp_path / "x", "frames=2", leakage={**loose, "enforce": True}))
