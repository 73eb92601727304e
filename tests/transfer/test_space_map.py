"""The test space's semantic map: saved and loaded exactly, scored on posed eval views, written by self-training,
and read by the perception plugin when an observation carries depth and pose."""

import json

import numpy as np
import pytest
import torch

from tests.collect import compose_collect
from tests.transfer.test_deploy import deploy_space
from tests.transfer.test_self_train import _adapt, _cfg
from tst.checkpoint import load_checkpoint
from tst.collect.run import run as collect
from tst.dataset import ShardDataset
from tst.metrics.semseg import SemSegEvaluator
from tst.transfer.perception import Perception
from tst.transfer.run import run
from tst.transfer.space_fusion import VoxelVotes
from tst.transfer.space_map import MAP_FILE, posed, posed_views, read_labels, same_space, score, space_of
from tst.transfer.space_map_image import IMAGE_FILE


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)  # box-room eval views (posed) + external rooms, built once


def _truth_votes(split, voxel):
    """Votes of the eval views' own ground truth: a map that is right wherever it has seen the surface."""
    rgb, depth, meta = posed_views(split, "test")
    truth = ShardDataset(split, ("semseg",))
    votes = VoxelVotes(int(max(int(truth[i]["semseg"].max()) for i in range(len(truth)))) + 1, voxel)
    for i, (d, m) in enumerate(zip(depth, meta)):
        votes.add(truth[i]["semseg"].numpy(), d, m["intrinsics"], np.asarray(m["cam_to_world"]))
    return votes.finish(), depth, meta, truth


def test_saved_votes_load_back_exactly_and_a_foreign_file_is_refused(space, tmp_path):
    votes, depth, meta, _ = _truth_votes(space["eval"], 0.1)
    back = VoxelVotes.load(votes.save(tmp_path / "m.npz"))
    assert back.voxel == 0.1 and back.num_classes == votes.num_classes and back.space is None
    votes.space = space_of(space["eval"])
    assert VoxelVotes.load(votes.save(tmp_path / "s.npz")).space == votes.space is not None
    assert np.array_equal(back.keys, votes.keys) and np.array_equal(back.votes, votes.votes)
    k, T = meta[2]["intrinsics"], np.asarray(meta[2]["cam_to_world"])
    assert np.array_equal(back.labels(depth[2], k, T), votes.labels(depth[2], k, T))
    assert not (tmp_path / "m.npz.part").exists()
    np.savez(tmp_path / "other.npz", keys=votes.keys)
    with pytest.raises(ValueError, match=r"other.npz is not a space map.*lacks \['voxel', 'num_classes', 'votes'\]"):
        VoxelVotes.load(tmp_path / "other.npz")


def test_a_right_map_lifts_the_score_to_its_coverage(space):
    p = Perception.from_run(space["semseg"], device="cpu")
    task, model, size = p.heads["semseg"]
    votes, *_ = _truth_votes(space["eval"], 0.02)
    assert posed(space["eval"]) and not posed(space["ext"] / "nothing") and not posed(None)
    got = score(task, model, votes, space["eval"], size, 4, torch.device("cpu"))
    assert got["semseg/map_coverage"] == 100.0  # a closed room: every eval pixel has a depth and a voted voxel
    # the head alone, scored the same way: the map replaces its labels with (nearly) the truth
    rgb, *_ = posed_views(space["eval"], "test")
    truth = ShardDataset(space["eval"], ("semseg",))
    ev = SemSegEvaluator(task.class_names)
    for i, o in enumerate(p(list(rgb))):
        ev.add(task.labels({"semseg": truth[i]["semseg"]}).numpy(), o["semseg"].astype(np.int64))
    head = ev.evaluate()["semseg/mIoU"]
    assert got["semseg/map_mIoU"] > 95.0 > head + 20


def test_self_training_writes_and_scores_the_map_and_the_plugin_reads_it(space, tmp_path):
    out = tmp_path / "run"
    m = run(_cfg(space, out, *_adapt(space), f"val={space['eval']}"))
    assert (out / MAP_FILE).is_file() and json.loads((out / "metrics.json").read_text())["self_train/map_voxels"] > 0
    assert (out / IMAGE_FILE).stat().st_size > 0  # its picture, for a person
    votes = VoxelVotes.load(out / MAP_FILE)
    assert len(votes.keys) == m["self_train/map_voxels"] and m["semseg/map_coverage"] == 100.0
    rgb, depth, meta = posed_views(space["eval"], "test")
    p = Perception.from_run(out, device="cpu")
    head_only = Perception.from_run(out, device="cpu", space_map=False)
    assert p.space_map is not None and head_only.space_map is None
    # the map was built from the self-trained head (the deployed one) over self_train.data's views
    own = [o["semseg"].astype(np.int64) for o in p(list(rgb))]
    rebuilt = VoxelVotes(votes.num_classes, 0.2)
    for o, d, mt in zip(own, depth, meta):
        rebuilt.add(o, d, mt["intrinsics"], np.asarray(mt["cam_to_world"]))
    rebuilt.finish()
    assert np.array_equal(rebuilt.keys, votes.keys) and np.array_equal(rebuilt.votes, votes.votes)
    # with depth and pose the plugin answers from the map; without them, or with the map off, from the head
    obs = [{"rgb": r, "depth": d, "intrinsics": mt["intrinsics"], "cam_to_world": mt["cam_to_world"]}
           for r, d, mt in zip(rgb, depth, meta)]
    mapped = p(obs)
    truth = ShardDataset(space["eval"], ("semseg",))
    ev, relabelled = SemSegEvaluator(p.task("semseg").class_names), 0
    for i, (o, r, d, mt) in enumerate(zip(mapped, own, depth, meta)):
        want, hit = read_labels(votes, r, d, mt["intrinsics"], mt["cam_to_world"])
        assert np.array_equal(o["semseg"], want) and np.array_equal(o["semseg_mapped"], hit) and hit.all()
        relabelled += int((want != r).sum())
        ev.add(p.task("semseg").labels({"semseg": truth[i]["semseg"]}).numpy(), o["semseg"].astype(np.int64))
    assert relabelled > 0  # the map overrode some of the head's own labels
    assert ev.evaluate()["semseg/mIoU"] == pytest.approx(m["semseg/map_mIoU"])  # what transfer scored
    # with det and caption heads too, boxes are weighed against the same labels (made once per batch) and
    # captions decoded under them, as predict_posed does view by view
    both = Perception.from_run([out, space["det"], space["caption"]], device="cpu")
    x = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float().div(255)
    poses = [(mt["intrinsics"], np.asarray(mt["cam_to_world"])) for mt in meta]
    want, said = both.predict_posed("det", x, depth, poses), both.predict_posed("caption", x, depth, poses)
    for o, w, c in zip(both(obs), want, said):
        w = both._format("det", w)["detections"]
        assert all(np.array_equal(o["detections"][k], w[k]) for k in ("boxes", "labels", "scores"))
        assert o["caption"] == c["caption"] and c["candidates"]
    plain = head_only(obs)
    assert all("semseg_mapped" not in o and np.array_equal(o["semseg"], r) for o, r in zip(plain, own))
    assert all(np.array_equal(o["semseg"], r) for o, r in zip(p([{"rgb": x, "depth": d} for x, d in zip(rgb, depth)]),
                                                              own))


def test_zero_self_training_steps_map_the_space_with_the_external_head(space, tmp_path):
    plain, mapped = tmp_path / "plain", tmp_path / "mapped"
    m0 = run(_cfg(space, plain, f"val={space['eval']}"))
    # colour calibration off: the box room lies outside the two external rooms' colours (tests/transfer/test_space_colour)
    m = run(_cfg(space, mapped, *_adapt(space, steps=0), "self_train.colour=false", f"val={space['eval']}"))
    assert m["self_train/steps"] == 0 and "self_train/loss" not in m
    wa, wb = (load_checkpoint(d / "head.pt")["model"] for d in (plain, mapped))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # no step trained the head: it is the external one
    assert m["semseg/mIoU"] == m0["semseg/mIoU"]
    votes = VoxelVotes.load(mapped / MAP_FILE)  # the map holds the external head's own predictions
    rgb, depth, meta = posed_views(space["eval"], "test")
    own = [o["semseg"].astype(np.int64) for o in Perception.from_run(plain, device="cpu")(list(rgb))]
    rebuilt = VoxelVotes(votes.num_classes, 0.2)
    for o, d, mt in zip(own, depth, meta):
        rebuilt.add(o, d, mt["intrinsics"], np.asarray(mt["cam_to_world"]))
    rebuilt.finish()
    assert np.array_equal(rebuilt.keys, votes.keys) and np.array_equal(rebuilt.votes, votes.votes)
    assert m["semseg/map_coverage"] == 100.0 and m["semseg/map_mIoU"] != m["semseg/mIoU"]


def test_a_map_of_another_space_is_built_but_not_scored_on_this_one(space, tmp_path):
    other = tmp_path / "other_room"  # another room, posed like the eval views: its map is about other voxels
    collect(compose_collect(other, "frames=6", "shard_size=6", "split=eval",
                            scene={"_target_": "tests.collect.seeded_room", "seed": 3}))
    assert same_space(space["eval"], space["eval"]) and not same_space(space["eval"], other)
    assert not same_space(space["eval"], space["ext"])  # a split of several spaces is no one space
    m = run(_cfg(space, tmp_path / "run", f"self_train.data={other}", "self_train.steps=2", "self_train.voxel=0.2",
                 f"val={space['eval']}"))
    assert m["self_train/map_voxels"] > 0 and (tmp_path / "run" / MAP_FILE).is_file()
    assert not any(k.startswith("semseg/map_") for k in m)  # the matrix's off-diagonal: head only
    assert "semseg/mIoU" in m
    assert VoxelVotes.load(tmp_path / "run" / MAP_FILE).space == space_of(other) != space_of(space["eval"])
    from tests.transfer.test_deploy import compose_deploy
    from tst.transfer.deploy import run as deploy

    res = deploy(compose_deploy([tmp_path / "run"], space["eval"], tmp_path / "dep", "overlays=0"))
    assert res["semseg/mIoU"] == pytest.approx(m["semseg/mIoU"]) and not [k for k in res if "/map_" in k]


def test_a_bad_pose_is_refused_naming_the_fix(space, tmp_path):
    p = Perception.from_run(space["semseg"], device="cpu")
    rgb, depth, meta = posed_views(space["eval"], "test")
    with pytest.raises(ValueError, match=r"cam_to_world must be 4x4 \(got \(3, 4\)\)"):
        p({"rgb": rgb[0], "depth": depth[0], "intrinsics": meta[0]["intrinsics"],
           "cam_to_world": np.eye(4)[:3]})


def test_detections_are_weighed_against_the_space_labels_inside_each_box():
    from tst.transfer.space_map import class_map_by_name, rescore_detections

    labels = np.zeros((10, 10), np.int64)
    labels[:, :5], labels[:, 5:8] = 3, 5  # columns 8-9: a class that is no detection class (4: wall) ...
    labels[0, 8] = 99  # ... and one id beyond the map's vocabulary, which names none either
    lut = class_map_by_name({3: "chair", 4: "wall", 5: "table"}, {1: "chair", 2: "table"})
    assert lut.tolist() == [0, 0, 0, 1, 0, 2]
    out = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 5.0, 10.0], [8.0, 0.0, 10.0, 10.0]]),
           "scores": torch.tensor([0.8, 0.6, 0.9]), "labels": torch.tensor([1, 2, 2])}
    got = rescore_detections(out, labels, lut)
    # box 0: 50 chair + 30 table pixels -> its chair score x (0.5 + 0.5 * 0.625), a table copy at 0.8 * 0.375;
    # box 1: all chair -> its table score halved, a chair copy at 0.6; box 2: no detection class inside -> kept
    assert got["scores"].tolist() == pytest.approx([0.65, 0.3, 0.9, 0.3, 0.6])
    assert got["labels"].tolist() == [1, 2, 2, 2, 1]
    assert torch.equal(got["boxes"][3:], out["boxes"][:2])
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    assert rescore_detections(empty, labels, lut) is empty


def test_deploy_scores_semseg_det_and_caption_with_the_map_as_transfer_did(space, tmp_path):
    from tests.transfer.test_deploy import compose_deploy
    from tst.transfer.deploy import run as deploy

    seg = tmp_path / "seg"
    m = run(_cfg(space, seg, *_adapt(space), f"val={space['eval']}"))
    res = deploy(compose_deploy([seg, space["det"], space["caption"]], space["eval"], tmp_path / "dep", "overlays=0"))
    assert res["semseg/map_mIoU"] == pytest.approx(m["semseg/map_mIoU"])  # the same map, the same views
    assert 0.0 <= res["caption/map_CIDEr"] and "caption/map_BLEU-4" in res  # decoded under the map's labels
    assert res["semseg/mIoU"] == pytest.approx(m["semseg/mIoU"])
    assert {"det/map_AP", "det/map_AP50"} <= set(res) and res["det/map_AP50"] != res["det/AP50"]
    assert "| det | det/map_AP50 |" in (tmp_path / "dep" / "report.md").read_text()
    off = deploy(compose_deploy([seg, space["det"]], space["eval"], tmp_path / "off", "overlays=0", "space_map=false"))
    assert not [k for k in off if "/map_" in k] and off["det/AP50"] == res["det/AP50"]
