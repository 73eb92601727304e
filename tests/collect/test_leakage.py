"""Leakage between eval and pretrain poses, checked against hand-computed distances and angles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.collect.test_coco import make_labelled_split
from tst.atomic import write_json
from tst.collect.finalize import finish_split
from tst.collect.leakage import enforce_separation, leakage_report, nearest_pretrain
from tst.envs.camera import pose_from_yaw_pitch
from tst.shards import ShardWriter, encode_sample


def P(x, y, yaw_deg, z=1.5):
    return pose_from_yaw_pitch(np.array([x, y, z]), np.radians(yaw_deg))


PRETRAIN = np.stack([P(0, 0, 0), P(5, 0, 90), P(0, 5, 180)])
EVAL = np.stack([
    P(0.3, 0.4, 10),  # 0.5 m from pretrain 0, 10 deg off
    P(5, 0, 180),  # same place as pretrain 1, looking the opposite way (90 deg off)
    P(3, 3, 0),  # far from everything: nearest is pretrain 1 or 2 at sqrt(4 + 9)
    P(0, 5.1, 175),  # 0.1 m, 5 deg from pretrain 2
])


def test_nearest_pretrain_hand_computed():
    idx, dist, angle = nearest_pretrain(EVAL, PRETRAIN)
    assert idx.tolist()[:2] == [0, 1] and idx[3] == 2
    np.testing.assert_allclose(dist, [0.5, 0.0, np.sqrt(13), 0.1], atol=1e-9)
    np.testing.assert_allclose(angle[[0, 1, 3]], [10.0, 90.0, 5.0], atol=1e-6)


def test_report_fraction_uses_both_thresholds():
    r = leakage_report(EVAL, PRETRAIN, max_dist=0.6, max_angle=30.0)
    # view 0 (0.5 m, 10 deg) and view 3 (0.1 m, 5 deg) are close; view 1 is at 0 m but 90 deg off
    assert r["fraction_close"] == pytest.approx(0.5)
    assert [v["close"] for v in r["per_view"]] == [True, False, False, True]
    assert r["nearest_dist"]["min"] == pytest.approx(0.0) and r["nearest_dist"]["median"] == pytest.approx(0.3)
    assert leakage_report(EVAL, PRETRAIN, max_dist=0.4, max_angle=30.0)["fraction_close"] == pytest.approx(0.25)
    assert leakage_report(EVAL, PRETRAIN, max_dist=0.6, max_angle=100.0)["fraction_close"] == pytest.approx(0.75)


def test_enforce_separation():
    assert enforce_separation(EVAL, PRETRAIN, min_dist=0.6, min_angle=30.0) == [1, 2]
    assert enforce_separation(EVAL, PRETRAIN, min_dist=0.01, min_angle=1.0) == [0, 1, 2, 3]
    assert enforce_separation(EVAL, PRETRAIN, min_dist=10.0, min_angle=180.1) == []


def test_chunked_matches_direct(monkeypatch):
    import tst.collect.leakage as lk

    rng = np.random.default_rng(0)
    ev = np.stack([P(*rng.uniform(0, 5, 2), rng.uniform(0, 360)) for _ in range(37)])
    ref = np.stack([P(*rng.uniform(0, 5, 2), rng.uniform(0, 360)) for _ in range(23)])
    full = nearest_pretrain(ev, ref)
    monkeypatch.setattr(lk, "CHUNK", 5)
    chunked = nearest_pretrain(ev, ref)
    for a, b in zip(full, chunked):
        np.testing.assert_allclose(a, b)


def test_bad_poses_fail():
    with pytest.raises(ValueError, match=r"\[N, 4, 4\]"):
        nearest_pretrain(np.zeros((3, 3, 3)), PRETRAIN)


def test_finish_split_adds_leakage(tmp_path):
    split = make_labelled_split(tmp_path / "eval", n=3, captions=False)
    ref = tmp_path / "pretrain"
    with ShardWriter(ref, 10) as w:
        for i, pose in enumerate(PRETRAIN):
            w.write(f"{i:06d}", encode_sample({"meta": {"cam_to_world": pose.tolist()}}))
    write_json(ref / "manifest.json", {"split": "pretrain"})
    manifest = json.loads((split / "manifest.json").read_text())
    add = finish_split(split, [], manifest, {"coco": False, "leakage_ref": str(ref),
                                             "leakage": {"max_dist": 2.0, "max_angle": 45.0}})
    lk = add["leakage"]
    assert "coco" not in add and lk["eval_views"] == 3 and lk["pretrain_views"] == 3
    assert lk["max_dist"] == 2.0 and [v["key"] for v in lk["per_view"]] == ["000000", "000001", "000002"]
    # the hand-made eval views sit at (1 + 0.3 i, 1.5, 1.5), yaw 0.2 i rad: nearest is pretrain 0
    assert all(v["nearest"] == "000000" for v in lk["per_view"])
    assert lk["per_view"][0]["dist"] == pytest.approx(np.hypot(1.0, 1.5), abs=1e-4)
    assert lk["fraction_close"] == pytest.approx(2 / 3)  # view 2 is 2.19 m away
