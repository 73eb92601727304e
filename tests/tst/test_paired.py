"""tst.paired: gains differenced within (scene, seed) pairs, bootstrap intervals, the oracle gap."""

import math

import numpy as np
import pytest

from tst.paired import bootstrap_interval, gap_closed, pair_values, paired_gain, t_interval


def _row(init, scene, seed, v, status="ok", metric="semseg/mIoU"):
    return {"init": init, "scene": scene, "seed": seed, "task": "semseg", "status": status, metric: v}


def test_pairs_match_scene_and_seed_and_skip_unfinished():
    rows = [_row("tst", 0, 0, 30.0), _row("tst", 0, 1, 32.0), _row("tst", 1, 0, 50.0),
            _row("scratch", 0, 0, 20.0), _row("scratch", 1, 0, 45.0), _row("scratch", 0, 1, 99.0, status="failed")]
    assert pair_values(rows, "tst", "scratch", "semseg/mIoU") == [(30.0, 20.0), (50.0, 45.0)]


def test_a_consistent_gain_is_significant_though_scenes_differ_more_than_it():
    # scene difficulty varies by 40 points, the gain is +2 +- 0.5: means overlap, pairs do not
    rng = np.random.default_rng(0)
    rows = []
    for scene in range(3):
        for seed in range(3):
            base = 20.0 + 20.0 * scene + rng.normal(0, 1)
            rows += [_row("scratch", scene, seed, base), _row("tst", scene, seed, base + 2.0 + rng.normal(0, 0.5))]
    g = paired_gain(rows, "tst", "scratch", "semseg/mIoU")
    assert g.n == 9 and g.mean == pytest.approx(2.0, abs=0.5)
    assert 0 < g.lo < g.mean < g.hi and g.significant and g.text().endswith("*")
    # no gain at all: the interval straddles zero
    flat = [dict(r, **{"semseg/mIoU": r["semseg/mIoU"] - 2.0}) if r["init"] == "tst" else r for r in rows]
    assert not paired_gain(flat, "tst", "scratch", "semseg/mIoU").significant


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    d = np.array([1.0, 2.0, 3.0, 4.0])
    lo, hi = bootstrap_interval(d, seed=3)
    assert (lo, hi) == bootstrap_interval(d, seed=3)
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert bootstrap_interval(np.array([5.0, 5.0]))[0] == 5.0


def test_three_positive_pairs_are_not_a_gain_when_they_scatter():
    # the gain grid at tst_vit_cpu, 3 spaces x 1 seed: the bootstrap alone returns the pairs' range and
    # "excludes zero"; Student's t with 2 degrees of freedom does not, and the wider interval is stated
    pairs = [(30.48, 30.08), (32.14, 28.26), (33.13, 32.81)]
    rows = [r for i, (t, s) in enumerate(pairs) for r in (_row("tst", i, 0, t), _row("scratch", i, 0, s))]
    d = np.array([t - s for t, s in pairs])
    assert bootstrap_interval(d)[0] > 0  # the artefact this guards against
    lo, hi = t_interval(d)
    assert lo == pytest.approx(1.5333 - 4.3027 * d.std(ddof=1) / 3 ** 0.5, abs=1e-3) and lo < -3.0
    g = paired_gain(rows, "tst", "scratch", "semseg/mIoU")
    assert (g.lo, g.hi) == pytest.approx((lo, hi)) and not g.significant and not g.text().endswith("*")


def test_single_pair_has_no_interval_and_two_objectives_are_refused():
    one = paired_gain([_row("tst", 0, 0, 3.0), _row("scratch", 0, 0, 1.0)], "tst", "scratch", "semseg/mIoU")
    assert one.n == 1 and one.mean == 2.0 and not one.significant and "no interval" in one.text()
    assert paired_gain([], "tst", "scratch", "semseg/mIoU").text() == "—"
    with pytest.raises(ValueError, match="several objectives"):
        pair_values([_row("tst", 0, 0, 1.0), _row("tst", 0, 0, 2.0)], "tst", "scratch", "semseg/mIoU")


def test_gap_closed():
    assert gap_closed(30.0, 20.0, 40.0) == 0.5
    assert gap_closed(15.0, 20.0, 40.0) == -0.25
    assert math.isnan(gap_closed(30.0, 20.0, 20.0)) and math.isnan(gap_closed(math.nan, 1.0, 2.0))
    # lower is better (depth AbsRel): scratch 0.30, oracle 0.20, tst 0.25 closes half the gap
    assert gap_closed(0.25, 0.30, 0.20, higher_is_better=False) == pytest.approx(0.5)
    assert math.isnan(gap_closed(0.25, 0.20, 0.30, higher_is_better=False))
