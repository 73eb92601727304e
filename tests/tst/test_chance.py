"""tst.chance: image-blind baselines scored by the real evaluators on an eval split."""

import hashlib
import json

import numpy as np
import pytest

from tst.chance import caption_chance, chance_levels, depth_chance, semseg_chance
from tst.shards import ShardWriter, encode_sample

REFS = [["a wall and a floor", "a bare wall"], ["a chair by the wall", "a bare wall"], ["a plain floor", "floor"]]
# 4x4 depth maps in metres (0 = no hit): hits 1 m (8 px), 2 m (8 px) and 4 m (4 px); median 2 m
DEPTH = [np.array([[1.0] * 4, [1.0] * 4, [2.0] * 4, [0.0] * 4], np.float32),
         np.array([[2.0] * 4, [4.0] * 4, [0.0] * 4, [0.0] * 4], np.float32), np.zeros((4, 4), np.float32)]
CLASSES = {"0": "unlabelled", "1": "wall", "2": "floor", "3": "chair"}


def _split(tmp_path, captions=True):
    """Three 4x4 views: 12 px wall + 4 floor; 8 wall + 4 floor + 4 chair; 16 floor."""
    sem = [np.array([[1] * 4] * 3 + [[2] * 4], np.uint16), np.array([[1] * 4] * 2 + [[2] * 4] + [[3] * 4], np.uint16),
           np.full((4, 4), 2, np.uint16)]
    with ShardWriter(tmp_path, shard_size=8) as w:
        for i in range(3):
            s = {"semseg": sem[i], "depth": DEPTH[i], "meta": {"split": "eval"}}
            if captions:
                s["caption"] = {"captions": REFS[i]}
            w.write(f"{i:08d}", encode_sample(s))
    shard = tmp_path / "shard-000000.tar"
    members = ["semseg.png", "depth.png", "meta.json"] + (["caption.json"] if captions else [])
    (tmp_path / "manifest.json").write_text(json.dumps({
        "split": "eval", "classes": CLASSES, "members": members, "counts": {"eval": 3}, "complete": True,
        "shards": [{"name": shard.name, "bytes": shard.stat().st_size,
                    "sha256": hashlib.sha256(shard.read_bytes()).hexdigest()}]}))
    return tmp_path


def test_semseg_chance_is_the_majority_class_everywhere(tmp_path):
    # wall (20 px) and floor (24 px): floor is the majority; floor IoU 24/48, wall 0, chair 0 -> mean 16.67
    assert semseg_chance(_split(tmp_path)) == pytest.approx(100 * (24 / 48) / 3)


def test_caption_chance_scores_the_most_used_reference_for_every_view(tmp_path):
    split = _split(tmp_path)
    constant = caption_chance(split, use_java=False)
    assert constant > 0
    # the same number the evaluator gives for "a bare wall" everywhere, by construction
    from tst.metrics.captioning import CaptionEvaluator

    ev = CaptionEvaluator(use_java=False)
    ev.process([{"image_id": i, "captions": r} for i, r in enumerate(REFS)], [{"caption": "a bare wall"}] * 3)
    assert constant == pytest.approx(ev.evaluate()["caption/CIDEr"])
    ev.reset()
    ev.process([{"image_id": i, "captions": r} for i, r in enumerate(REFS)], [{"caption": "a plain floor"}] * 3)
    assert ev.evaluate()["caption/CIDEr"] < constant  # a less used reference scores lower


def test_depth_chance_predicts_the_median_hit_depth_everywhere(tmp_path):
    got = depth_chance(_split(tmp_path))
    # view 0: |2-1|/1 on 8 px, 0 on 4 px -> AbsRel 8/12, RMSE sqrt(8/12), delta1 4/12
    # view 1: 0 on 4 px, |2-4|/4 on 4 px -> AbsRel 0.25, RMSE sqrt(2), delta1 1/2; view 2 has no hit
    assert got["depth/AbsRel"] == pytest.approx((8 / 12 + 0.25) / 2)
    assert got["depth/RMSE"] == pytest.approx((np.sqrt(8 / 12) + np.sqrt(2)) / 2)
    assert got["depth/delta1"] == pytest.approx(100 * (4 / 12 + 0.5) / 2)


def test_chance_levels_per_task_and_captions_only_when_the_split_has_them(tmp_path):
    levels = chance_levels(_split(tmp_path / "a"), ("semseg", "det", "caption", "depth"), use_java=False)
    assert set(levels) == {"semseg/mIoU", "det/AP50", "caption/CIDEr", "depth/AbsRel", "depth/RMSE", "depth/delta1"}
    assert levels["det/AP50"] == 0.0
    assert set(chance_levels(_split(tmp_path / "b", captions=False), ("semseg", "caption"))) == {"semseg/mIoU"}
