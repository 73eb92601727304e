"""tst.aggregate: rows from run directories or sweep.json, mean ± std over seeds, failures marked."""

import csv
import json
import math

import pytest

from tst.aggregate import Cell, markdown, summarize, sweep_rows, write_tables


def _metrics(path, **values):
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps({k.replace("__", "/"): v for k, v in values.items()}))


def test_cell_statistics_and_text():
    c = Cell([10.0, 20.0, 30.0])
    assert c.mean == 20.0 and c.std == pytest.approx(10.0)  # sample std (n - 1)
    assert Cell([7.0]).std == 0.0 and math.isnan(Cell().mean)
    assert Cell([10.0, 20.0], failed=1).text() == "15.00 ± 7.07 (1/3 failed)"
    assert Cell(failed=2).text() == "FAILED" and Cell().text() == "—"


def test_rows_from_the_run_directory_convention(tmp_path):
    t = tmp_path / "transfer" / "synth0"
    _metrics(t / "tst/multimae/semseg/seed0", semseg__mIoU=40.0, semseg__pixel_acc=80.0, **{"semseg/IoU/wall": 3.0})
    _metrics(t / "tst/multimae/semseg/seed1", semseg__mIoU=44.0)
    _metrics(t / "scratch/none/det/seed0", det__AP=2.0, det__AP50=6.0)
    (t / "scratch/none/det/seed1").mkdir(parents=True)  # started, never finished
    _metrics(t / "scratch/none/semseg/seed0", semseg__pixel_acc=1.0)  # finished without its key: failed
    rows = sweep_rows(tmp_path)
    assert len(rows) == 5
    ok = [r for r in rows if r["status"] == "ok"]
    assert {(r["init"], r["task"], r["seed"]) for r in ok} == {("tst", "semseg", 0), ("tst", "semseg", 1),
                                                               ("scratch", "det", 0)}
    first = next(r for r in ok if r["seed"] == 0 and r["task"] == "semseg")
    assert first["semseg/mIoU"] == 40.0 and "semseg/IoU/wall" not in first and first["scene"] == 0
    summary = dict(summarize(rows, ("init",)))
    assert summary[("tst",)]["semseg/mIoU"].mean == 42.0
    assert summary[("tst",)]["semseg/mIoU"].std == pytest.approx(2 * math.sqrt(2))
    assert summary[("scratch",)]["det/AP"].text() == "2.00 (n=1) (1/2 failed)"
    assert summary[("scratch",)]["semseg/mIoU"].text() == "FAILED"
    table = markdown(list(summary.items()), ("init",))
    assert "| tst | 42.00 ± 2.83 | — | — |" in table  # caption never ran: its column is left out


def test_rows_from_sweep_json_take_deploy_scores_and_statuses(tmp_path):
    params = {"scene": 0, "init": "tst", "objective": "multimae", "seed": 0}
    _metrics(tmp_path / "deploy/a", semseg__mIoU=55.0, det__AP=9.0, det__AP50=20.0)
    _metrics(tmp_path / "transfer/a/semseg", semseg__mIoU=11.0)  # its own held-out score: not the one reported
    jobs = [
        {"name": "deploy/a", "stage": "deploy", "params": {}, "status": "ok", "error": ""},
        {"name": "deploy/b", "stage": "deploy", "params": {}, "status": "failed", "error": "boom"},
        {"name": "transfer/a/semseg", "stage": "transfer", "status": "done", "error": "",
         "params": {**params, "task": "semseg", "scored_by": "deploy/a"}},
        {"name": "transfer/a/det", "stage": "transfer", "status": "ok", "error": "",
         "params": {**params, "task": "det", "scored_by": "deploy/a"}},
        {"name": "transfer/b/semseg", "stage": "transfer", "status": "ok", "error": "",
         "params": {**params, "seed": 1, "task": "semseg", "scored_by": "deploy/b"}},
        {"name": "transfer/c/caption", "stage": "transfer", "status": "blocked", "error": "needs pretrain/x",
         "params": {**params, "task": "caption", "scored_by": None}},
    ]
    (tmp_path / "sweep.json").write_text(json.dumps({"jobs": jobs}))
    rows = sweep_rows(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "blocked"]
    assert rows[0]["semseg/mIoU"] == 55.0 and rows[1]["det/AP50"] == 20.0 and rows[2]["error"] == "boom"

    csv_path, md_path = write_tables(rows, tmp_path / "out", by=("init",))
    line = next(csv.DictReader(open(csv_path)))
    assert (line["init"], float(line["semseg/mIoU/mean"]), line["semseg/mIoU/n"], line["semseg/mIoU/failed"]) == \
        ("tst", 55.0, "1", "1")
    assert line["caption/CIDEr/mean"] == "" and line["caption/CIDEr/failed"] == "1"
    md = md_path.read_text()
    assert "| tst | 55.00 (n=1) (1/2 failed) | 9.00 (n=1) | 20.00 (n=1) | FAILED |" in md
    assert "blocked: tst/multimae/caption seed 0 (scene 0): needs pretrain/x" in md
    jobs_csv = list(csv.DictReader(open(tmp_path / "out" / "jobs.csv")))
    assert len(jobs_csv) == 4 and jobs_csv[2]["status"] == "failed"


def test_a_deploy_of_another_cells_heads_gives_rows_of_its_own(tmp_path):
    """The matrix off its diagonal: space 1's head deployed on space 0's views is the row (scene 0, space1)."""
    _metrics(tmp_path / "deploy/x", semseg__mIoU=31.0, semseg__pixel_acc=80.0)
    _metrics(tmp_path / "transfer/h", semseg__mIoU=40.0, semseg__pixel_acc=90.0)
    own = {"scene": 1, "init": "space1", "objective": "multimae", "seed": 0}
    jobs = [{"name": "transfer/h", "stage": "transfer", "status": "ok", "error": "",
             "params": {**own, "task": "semseg", "scored_by": None}},
            {"name": "deploy/x", "stage": "deploy", "status": "ok", "error": "",
             "params": {**own, "scene": 0, "tasks": ["semseg"]}},
            {"name": "deploy/y", "stage": "deploy", "status": "failed", "error": "no head",
             "params": {**own, "scene": 2, "tasks": ["semseg"]}}]
    (tmp_path / "sweep.json").write_text(json.dumps({"jobs": jobs}))
    rows = {(r["scene"], r["init"]): r for r in sweep_rows(tmp_path)}
    assert rows[(1, "space1")]["semseg/mIoU"] == 40.0 and rows[(0, "space1")]["semseg/mIoU"] == 31.0
    assert rows[(2, "space1")]["status"] == "failed" and rows[(2, "space1")]["error"] == "no head"
    assert len(rows) == 3
