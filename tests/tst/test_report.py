"""`tst report` on run directories this test writes itself: the tables' numbers and the plot files."""

import json

import pytest

from tst.cli import main
from tst.report import render


def _run(root, scene, init, objective, task, seed, **values):
    d = root / "transfer" / f"synth{scene}" / init / objective / task / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({k.replace("__", "/"): v for k, v in values.items()}))


def _png(path):
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gain_table_gains_and_bars(tmp_path):
    for seed, (t, s, o) in enumerate([(40.0, 20.0, 30.0), (44.0, 22.0, 34.0)]):
        _run(tmp_path, 0, "tst", "multimae", "semseg", seed, semseg__mIoU=t)
        _run(tmp_path, 0, "scratch", "none", "semseg", seed, semseg__mIoU=s)
        _run(tmp_path, 0, "other", "multimae", "semseg", seed, semseg__mIoU=o)
        _run(tmp_path, 0, "tst", "multimae", "caption", seed, caption__CIDEr=0.5 + seed)
    data = render(tmp_path, "gain")
    assert data["means"]["tst"]["semseg/mIoU"] == 42.0 and data["means"]["other"]["semseg/mIoU"] == 32.0
    assert data["gain"]["scratch"]["semseg/mIoU"] == 21.0 and data["gain"]["other"]["semseg/mIoU"] == 10.0
    md = (tmp_path / "report.md").read_text()
    assert "| tst | 42.00 ± 2.83 | 1.00 ± 0.71 |" in md and "| scratch | 21.00 ± 1.41 | FAILED |" not in md
    assert "| scratch | 21.00 ± 1.41 | — |" in md and "| other | +10.00 [+10.00, +10.00] * | — |" in md
    # two (scene, seed) pairs, both +10 over other: the bootstrap interval is [10, 10] and excludes zero
    assert data["paired"]["other"]["semseg/mIoU"] == {"mean": 10.0, "lo": 10.0, "hi": 10.0, "n": 2}
    assert "Specialization paid on semseg/mIoU: tst beats scratch and other" in data["verdict"]
    _png(tmp_path / "gain.png")
    assert (tmp_path / "results.csv").is_file()


def test_gain_report_puts_numbers_in_context(tmp_path):
    """Oracle row and gap closed; a gain inside the seed noise is called what it is."""
    gains = {0: (30.0, 28.0, 50.0), 1: (26.0, 27.0, 46.0), 2: (31.0, 30.0, 52.0)}  # seed: tst, scratch, oracle
    for seed, (t, s, o) in gains.items():
        _run(tmp_path, 0, "tst", "multimae", "semseg", seed, semseg__mIoU=t)
        _run(tmp_path, 0, "scratch", "none", "semseg", seed, semseg__mIoU=s)
        _run(tmp_path, 0, "oracle", "multimae", "semseg", seed, semseg__mIoU=o)
    data = render(tmp_path, "gain")
    assert data["gap_closed"]["semseg/mIoU"] == pytest.approx((29.0 - 28.333333) / (49.333333 - 28.333333), abs=1e-4)
    assert data["paired"]["scratch"]["semseg/mIoU"]["lo"] < 0 < data["paired"]["scratch"]["semseg/mIoU"]["hi"]
    assert "did not clearly pay" in data["verdict"]
    md = (tmp_path / "report.md").read_text()
    assert "| oracle | 49.33 ± 3.06 |" in md and "| gap closed | 0.03 |" in md
    assert "| chance | — |" in md  # no eval split under data/ in this directory: nothing to score chance on
    assert "self-trained" not in md and data["self_trained"] == []


def test_gain_report_says_which_tst_heads_self_trained(tmp_path):
    for seed in (0, 1):
        _run(tmp_path, 0, "tst", "multimae", "semseg", seed, semseg__mIoU=30.0 + seed, self_train__steps=4)
        _run(tmp_path, 0, "other", "multimae", "semseg", seed, semseg__mIoU=29.0)
    data = render(tmp_path, "gain")
    assert data["self_trained"] == ["semseg"]
    assert "its semseg head then self-trained on its own predictions" in (tmp_path / "report.md").read_text()
    assert data["space_map"] == {}  # no tst run wrote a map: no map rows


def test_gain_report_pairs_tst_with_its_space_map_against_the_baselines_heads(tmp_path):
    for seed, (t, tm, o) in enumerate([(30.0, 36.0, 29.0), (32.0, 40.0, 31.0), (31.0, 38.0, 30.0)]):
        _run(tmp_path, 0, "tst", "multimae", "semseg", seed, semseg__mIoU=t, semseg__map_mIoU=tm,
             semseg__map_coverage=99.0)
        _run(tmp_path, 0, "other", "multimae", "semseg", seed, semseg__mIoU=o)
    data = render(tmp_path, "gain")
    m = data["space_map"]
    assert m["means"] == {"semseg/mIoU": 38.0} and m["stds"] == {"semseg/mIoU": 2.0}
    assert m["paired"]["other"]["semseg/mIoU"]["mean"] == pytest.approx(8.0) and m["paired"]["other"]["semseg/mIoU"]["n"] == 3
    assert "scratch" not in m["paired"] and data["paired"]["other"]["semseg/mIoU"]["mean"] == pytest.approx(1.0)
    md = (tmp_path / "report.md").read_text()
    assert "| tst + space map | 38.00 ± 2.00 |" in md and "| − other | +8.00 [" in md
    assert "Specialization paid on semseg/mIoU: tst + space map beats other with 95% intervals above zero" in md
    assert "![space map]" not in md  # no run drew its map


def test_a_colour_calibrated_tst_head_is_said_so(tmp_path):
    for seed, shift in ((0, 33.3), (1, 0.0)):
        _run(tmp_path, 0, "tst", "multimae", "semseg", seed, semseg__mIoU=30.0,
             self_train__colour_calibrated=float(shift > 0), self_train__colour_mean_shift=shift)
        _run(tmp_path, 0, "other", "multimae", "semseg", seed, semseg__mIoU=29.0)
    data = render(tmp_path, "gain")
    md = (tmp_path / "report.md").read_text()
    assert data["colour_calibrated"] == 1
    assert "In 1 of 2 tst semseg runs the test space's colours lay outside the range" in md
    assert "largest move 33 of 255 levels" in md
    (tmp_path / "transfer/synth0/tst/multimae/semseg/seed0/metrics.json").write_text(json.dumps(
        {"semseg/mIoU": 30.0, "self_train/colour_calibrated": 0.0, "self_train/colour_mean_shift": 0.0}))
    assert render(tmp_path, "gain")["colour_calibrated"] == 0
    assert "colours lay outside" not in (tmp_path / "report.md").read_text()


def test_the_verdict_speaks_of_a_paired_task_when_no_baseline_ran_the_headline_one(tmp_path):
    # the baselines train captioning only (grid.task_inits): the semseg column has no pair to judge
    for scene, (t, o) in enumerate([(0.80, 0.70), (0.90, 0.75), (0.70, 0.62)]):
        _run(tmp_path, scene, "tst", "multimae", "semseg", 0, semseg__mIoU=30.0)
        _run(tmp_path, scene, "tst", "multimae", "caption", 0, caption__CIDEr=t)
        _run(tmp_path, scene, "other", "multimae", "caption", 0, caption__CIDEr=o)
    data = render(tmp_path, "gain")
    assert data["verdict"].startswith("Specialization paid on caption/CIDEr: tst beats other"), data["verdict"]


def test_a_map_only_tst_head_is_not_called_self_trained_and_its_map_is_shown(tmp_path):
    from tst.report import IMAGE_FILE
    from tst.transfer.space_map_image import IMAGE_FILE as WRITTEN

    assert IMAGE_FILE == WRITTEN
    # the runs' own self_train/steps decide, not a sweep config that names other steps since
    (tmp_path / "config.yaml").write_text("analysis: gain\ngrid:\n  self_train:\n    semseg: [self_train.steps=4]\n")
    for seed in (0, 1):
        _run(tmp_path, 0, "tst", "multimae", "semseg", seed, semseg__mIoU=30.0, semseg__map_mIoU=33.0 + seed,
             self_train__steps=0)
        _run(tmp_path, 0, "other", "multimae", "semseg", seed, semseg__mIoU=29.0)
    picture = tmp_path / "transfer/synth0/tst/multimae/semseg/seed1" / IMAGE_FILE
    picture.write_bytes(b"\x89PNG\r\n\x1a\n seed 1")
    (picture.parent.parent / "seed0" / IMAGE_FILE).write_bytes(b"\x89PNG\r\n\x1a\n seed 0")
    data = render(tmp_path, "gain")
    md = (tmp_path / "report.md").read_text()
    assert data["self_trained"] == [] and "self-trained on its own predictions" not in md
    assert "The tst semseg head is not self-trained (`self_train.steps=0`)" in md
    assert "| tst + space map | 33.50 ± 0.71 |" in md
    assert "(transfer/synth0/tst/multimae/semseg/seed0), from above" in md and f"![space map]({IMAGE_FILE})" in md
    assert (tmp_path / IMAGE_FILE).read_bytes().endswith(b"seed 0")  # the first run's picture, beside the report


def test_a_single_pair_is_not_called_a_gain(tmp_path):
    _run(tmp_path, 0, "tst", "multimae", "semseg", 0, semseg__mIoU=40.0)
    _run(tmp_path, 0, "scratch", "none", "semseg", 0, semseg__mIoU=20.0)
    assert "single (scene, seed) pair — no interval" in render(tmp_path, "gain")["verdict"]


def test_matrix_heatmap_puts_each_source_on_its_row(tmp_path):
    value = {(0, 0): 50.0, (0, 1): 20.0, (1, 0): 25.0, (1, 1): 45.0}  # (specialized to, evaluated on)
    for (i, j), v in value.items():
        init = "tst" if i == j and i == 0 else f"space{i}"  # `tst` on space j is the diagonal too
        _run(tmp_path, j, init, "multimae", "semseg", 0, semseg__mIoU=v)
        _run(tmp_path, j, init, "multimae", "semseg", 1, semseg__mIoU=v + 2)
    data = render(tmp_path, "matrix", metric="semseg/mIoU")
    assert data["matrix"] == [[51.0, 21.0], [26.0, 46.0]] and data["sources"] == [0, 1]
    assert data["diagonal_mean"] == 48.5 and data["off_diagonal_mean"] == 23.5
    assert data["own_minus_other"] == {0: 25.0, 1: 25.0}  # per column (rows would give 30 and 20)
    text = (tmp_path / "report.md").read_text()
    assert "| space 1 | 26.00 ± 1.41 | 46.00 ± 1.41 |" in text
    assert "minus specialized to another, on it: space 0 +25.00, space 1 +25.00 (mean +25.00)" in text
    _png(tmp_path / "matrix.png")


def test_external_curve_reports_the_crossing_point(tmp_path):
    for k, v in ((1, 10.0), (2, 20.0), (4, 30.0), (8, 40.0)):
        _run(tmp_path, 0, f"other{k}", "multimae", "semseg", 0, semseg__mIoU=v)
    _run(tmp_path, 0, "tst", "multimae", "semseg", 0, semseg__mIoU=25.0)
    data = render(tmp_path, "external")
    assert data["k"] == [1, 2, 4, 8] and data["other"] == [10.0, 20.0, 30.0, 40.0] and data["crossing"] == 3.0
    assert "worth 3.00 external spaces" in (tmp_path / "report.md").read_text()
    _png(tmp_path / "external.png")


def test_a_curve_that_starts_above_the_test_space_bounds_it_from_above(tmp_path):
    for k, v in ((1, 17.0), (2, 16.5)):
        _run(tmp_path, 0, f"other{k}", "multimae", "semseg", 0, semseg__mIoU=v)
    _run(tmp_path, 0, "tst", "multimae", "semseg", 0, semseg__mIoU=16.0)
    assert render(tmp_path, "external")["crossing"] == 1.0
    text = (tmp_path / "report.md").read_text()
    assert "worth at most 1 external space (pretraining on 1 already matches it)" in text


def test_ablation_through_the_cli_reads_the_analysis_from_the_sweep_config(tmp_path):
    for obj, v in (("mae_rgb", 10.0), ("multimae_rgb_depth", 12.0), ("multimae_rgb_depth_normal", 15.0)):
        _run(tmp_path, 0, "tst", obj, "det", 0, det__AP=v, det__AP50=2 * v)
    _run(tmp_path, 0, "scratch", "none", "det", 0, det__AP=99.0, det__AP50=99.0)  # not an ablation row
    (tmp_path / "config.yaml").write_text("analysis: ablation\n")
    main(["report", f"dir={tmp_path}"])
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# ablation") and "| multimae_rgb_depth_normal | 15.00 (n=1) | 30.00 (n=1) |" in md
    assert "99.00" not in md
    assert json.loads((tmp_path / "report.json").read_text())["means"]["mae_rgb"]["det/AP"] == 10.0
    _png(tmp_path / "ablation.png")


def test_bad_input_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no transfer runs"):
        render(tmp_path, "gain")
    _run(tmp_path, 0, "tst", "multimae", "semseg", 0, semseg__mIoU=1.0)
    with pytest.raises(ValueError, match="analysis='heat' is unknown"):
        render(tmp_path, "heat")
    with pytest.raises(ValueError, match="needs runs with init=tst and init=other<k>"):
        render(tmp_path, "external")
