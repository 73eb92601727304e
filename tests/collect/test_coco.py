"""COCO export: a hand-built labelled split round-trips exactly through pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tst.atomic import write_json
from tst.collect.coco import export_coco
from tst.collect.finalize import finish_split
from tst.envs.camera import Intrinsics, pose_from_yaw_pitch
from tst.shards import ShardWriter, encode_sample

CLASSES = ["unlabelled", "floor", "ceiling", "wall", "table", "chair"]


def make_view(i: int, size: int = 64) -> dict:
    """A labelled view: wall on top, floor below, a table box, two chairs (one a disc) that move with i."""
    rng = np.random.default_rng(i)
    semseg = np.zeros((size, size), np.uint16)
    instance = np.zeros((size, size), np.uint16)
    semseg[: size // 2], instance[: size // 2] = 3, 2  # wall
    semseg[size // 2:], instance[size // 2:] = 1, 1  # floor
    x0 = 5 + i
    semseg[30:44, x0:x0 + 20], instance[30:44, x0:x0 + 20] = 4, 3  # table
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - 48) ** 2 + (xx - 45 + i) ** 2 <= 36
    semseg[disc], instance[disc] = 5, 4  # chair (a disc: a non-rectangular mask)
    semseg[10:16, 50:60], instance[10:16, 50:60] = 5, 5  # second chair
    palette = np.array([[0, 0, 0], [150, 120, 90], [240, 240, 240], [200, 190, 170], [120, 70, 30],
                        [200, 30, 30]], np.uint8)
    rgb = palette[semseg] + rng.integers(0, 5, (size, size, 3), dtype=np.uint8)
    depth = np.where(yy > size // 2, 1.0 + (size - yy) * 0.05, 4.0).astype(np.float32)
    normal = np.zeros((size, size, 3), np.float32)
    normal[..., 2] = -1.0
    pose = pose_from_yaw_pitch(np.array([1.0 + 0.3 * i, 1.5, 1.5]), yaw=0.2 * i)
    meta = {"intrinsics": Intrinsics.from_fov(size, size, 90.0).to_dict(), "cam_to_world": pose.tolist(),
            "scene_id": "hand", "split": "eval"}
    return {"rgb": rgb, "depth": depth, "normal": normal, "semseg": semseg, "instance": instance, "meta": meta}


def make_labelled_split(d: Path, n: int = 4, captions: bool = True, shard_size: int = 3) -> Path:
    """A split dir in the shard contract with n hand-made views (+ caption members) and a manifest."""
    with ShardWriter(d, shard_size) as w:
        for i in range(n):
            sample = make_view(i)
            if captions:
                sample["caption"] = {"captions": [f"view {i} with a table", f"a wall and {2} chairs", "a room"]}
            w.write(f"{i:06d}", encode_sample(sample))
    write_json(d / "manifest.json", {"format_version": 1, "scene_id": "hand", "split": "eval",
                                     "modalities": ["rgb", "depth", "normal", "semseg", "instance"],
                                     "classes": CLASSES, "counts": {"eval": n}, "seed": 0})
    return d


def _quiet(fn, *a):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a)


def test_coco_round_trip_exact(tmp_path):
    split = make_labelled_split(tmp_path / "split")
    info = export_coco(split, tmp_path / "coco")
    assert info["images"] == 4 and info["annotations"] == 4 * 3  # table + 2 chairs; wall/floor skipped
    assert info["categories"] == ["table", "chair"]
    coco = _quiet(COCO, str(tmp_path / "coco" / "instances.json"))
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == ["chair", "table"]
    assert coco.getCatIds() == [4, 5]  # category ids are the split's class ids
    for img in coco.loadImgs(coco.getImgIds()):
        assert (tmp_path / "coco" / "images" / img["file_name"]).is_file()
        view = make_view(int(img["key"]))
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"])):
            truth = view["instance"] == ann["instance_id"]
            decoded = mask_utils.decode(coco.annToRLE(ann)).astype(bool)
            assert np.array_equal(decoded, truth)
            rows, cols = np.nonzero(truth)
            assert ann["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
            assert ann["area"] == truth.sum() and ann["iscrowd"] == 0
            assert ann["category_id"] == int(view["semseg"][truth][0])
    # the table of view 2 starts at x = 7 and is 20 x 14 pixels
    tables = [a for a in coco.loadAnns(coco.getAnnIds(catIds=[4])) if coco.imgs[a["image_id"]]["key"] == "000002"]
    assert tables[0]["bbox"] == [7, 30, 20, 14] and tables[0]["area"] == 280


def test_coco_gt_against_itself_gives_ap_one(tmp_path):
    split = make_labelled_split(tmp_path / "split")
    export_coco(split, tmp_path / "coco")
    gt = _quiet(COCO, str(tmp_path / "coco" / "instances.json"))
    dets = [{**a, "score": 1.0} for a in gt.dataset["annotations"]]
    for iou_type in ("bbox", "segm"):
        dt = _quiet(gt.loadRes, [dict(d) for d in dets])
        ev = COCOeval(gt, dt, iou_type)
        _quiet(ev.evaluate)
        _quiet(ev.accumulate)
        _quiet(ev.summarize)
        assert abs(ev.stats[0] - 1.0) < 1e-9, (iou_type, ev.stats[0])


def test_captions_json_is_coco_captions(tmp_path):
    split = make_labelled_split(tmp_path / "split")
    export_coco(split, tmp_path / "coco")
    caps = _quiet(COCO, str(tmp_path / "coco" / "captions.json"))
    assert len(caps.getAnnIds()) == 4 * 3
    img1 = [i for i in caps.getImgIds() if caps.imgs[i]["key"] == "000001"][0]
    texts = [a["caption"] for a in caps.loadAnns(caps.getAnnIds(imgIds=img1))]
    assert texts[0] == "view 1 with a table"


def test_finish_split_exports_coco_for_labelled_only(tmp_path):
    split = make_labelled_split(tmp_path / "split", captions=False)
    manifest = json.loads((split / "manifest.json").read_text())
    add = finish_split(split, [], manifest, {})
    assert add["coco"]["dir"] == "coco" and add["coco"]["annotations"] == 12
    assert not (split / "coco" / "captions.json").exists()  # no caption members, no scenes: no captions
    pretrain = {**manifest, "split": "pretrain", "modalities": ["rgb", "depth", "normal"]}
    assert "coco" not in finish_split(split, [], pretrain, {})


def test_export_fails_on_unlabelled_split(tmp_path):
    split = make_labelled_split(tmp_path / "split")
    m = json.loads((split / "manifest.json").read_text())
    del m["classes"]
    with pytest.raises(KeyError, match="no class vocabulary"):
        export_coco(split, tmp_path / "coco", manifest=m)


def test_finish_split_makes_captions_from_the_scene_when_missing(tmp_path):
    from tests.envs.fixtures import make_box_room

    split = make_labelled_split(tmp_path / "split", n=3, captions=False)
    scene = make_box_room(scene_id="hand")  # geometry unused; the label tables match make_view
    scene.class_names = list(CLASSES)
    scene.instance_class = np.array([0, 1, 3, 4, 5, 5], np.int32)
    manifest = json.loads((split / "manifest.json").read_text())
    add = finish_split(split, [scene], manifest, {})
    assert add["coco"]["captions"] == 3 * 5
    caps = _quiet(COCO, str(split / "coco" / "captions.json"))
    texts = [a["caption"] for a in caps.loadAnns(caps.getAnnIds(imgIds=[1]))]
    assert len(set(texts)) >= 3 and any("table" in t for t in texts) and any("chair" in t for t in texts)
    with pytest.raises(KeyError, match="no scene"):
        scene.scene_id = "other"
        finish_split(split, [scene], manifest, {})
