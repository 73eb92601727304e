"""`python -m tst.demo` end to end at toy size: every stage runs, report.md / metrics.json hold the numbers
the deploy runs measured, and a second run executes nothing (every stage is found finished)."""

import json

import pytest
import yaml

from tst.demo import main, run
from tst.pipeline import compose_config

TINY = ["resolution=32", "frames.pretrain=8", "frames.eval=4", "frames.external=8", "steps.pretrain=1",
        "steps.semseg=1", "steps.self_train=1", "steps.det=1", "steps.caption=1", "steps.depth=1", "batch_size.pretrain=2", "batch_size.transfer=2", "batch_size.det=2", "grid.external_seeds=[1000]"]
METRICS = ("semseg/mIoU", "det/AP", "det/AP50", "caption/CIDEr", "depth/AbsRel", "depth/RMSE", "depth/delta1")


@pytest.mark.slow
def test_demo_runs_every_stage_reports_measured_numbers_and_resumes(tmp_path, capsys):
    assert main([*TINY, f"out={tmp_path}"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    report = (tmp_path / "report.md").read_text()
    assert "| init | semseg/mIoU | det/AP | det/AP50 | caption/CIDEr | depth/AbsRel | depth/RMSE | depth/delta1 |" in report
    for init, cell in (("tst", "tst/multimae"), ("scratch", "scratch/none"), ("other", "other/multimae"),
                       ("oracle", "oracle/multimae")):
        measured = json.loads((tmp_path / "deploy" / "synth0" / cell / "seed0" / "metrics.json").read_text())
        ran = METRICS if init != "scratch" else METRICS[:1]  # grid.task_inits: scratch is compared on semseg only
        for m in ran:
            assert metrics[f"{init}/{m}"] == measured[m], (init, m)  # the deploy run's number, unedited
        assert not any(m in measured or f"{init}/{m}" in metrics for m in METRICS if m not in ran)
        row = f"| {init} | " + " | ".join(f"{measured[m]:.2f} (n=1)" if m in ran else "—" for m in METRICS) + " |"
        assert row in report
    assert not (tmp_path / "transfer/synth0/scratch/none/det").exists()
    # the tst semseg head maps the space (no self-training): deploy scores it with the map, the report shows both
    tst_head = json.loads((tmp_path / "transfer/synth0/tst/multimae/semseg/seed0/metrics.json").read_text())
    assert tst_head["self_train/steps"] == 0 and tst_head["self_train/map_voxels"] > 0
    assert metrics["tst/semseg/map_mIoU"] == json.loads(
        (tmp_path / "deploy/synth0/tst/multimae/seed0/metrics.json").read_text())["semseg/map_mIoU"]
    assert "| tst + space map |" in report and "![space map](space_map.png)" in report
    assert "not self-trained (`self_train.steps=0`)" in report
    # TST and other were pretrained with the same budget, on different data
    tst_cfg = yaml.safe_load((tmp_path / "pretrain/synth0/multimae/seed0/config.yaml").read_text())
    other_cfg = yaml.safe_load((tmp_path / "pretrain/other1/multimae/seed0/config.yaml").read_text())
    assert tst_cfg["data"] != other_cfg["data"]
    assert {k: v for k, v in tst_cfg.items() if k not in ("data", "out")} == \
        {k: v for k, v in other_cfg.items() if k not in ("data", "out")}
    # the demo's cheaper heads (configs/demo.yaml), for every init alike
    def head_kwargs(init: str, task: str) -> dict:
        run_cfg = yaml.safe_load((tmp_path / f"transfer/synth0/{init}/{task}/seed0/config.yaml").read_text())
        return run_cfg["task"]["model_kwargs"]

    for init in ("tst/multimae", "oracle/multimae"):
        assert head_kwargs(init, "semseg")["fuse_kernel"] == 1
        det = head_kwargs(init, "det")
        assert [det[f"rpn_{k}_nms_top_n_{s}"] for s in ("train", "test") for k in ("pre", "post")] == [500, 500, 300, 300]
    assert (tmp_path / "gain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert metrics["time/pretrain_s"] > 0 and metrics["time/transfer_s"] > 0 and metrics["time/deploy_s"] > 0
    assert "## Wall time" in report and "| deploy/synth0/tst/multimae/seed0 | ok |" in report
    # numbers in context: chance on the same eval views, the oracle's gap, and a verdict in words
    assert "| chance | " in report and "| gap closed | " in report and "Specialization on semseg/mIoU" in report
    assert (tmp_path / "logs" / "transfer__synth0__oracle__multimae__semseg__seed0.log").is_file()  # 2 jobs at once

    capsys.readouterr()
    again = run(compose_config("demo", [*TINY, f"out={tmp_path}"]))
    out = capsys.readouterr().out
    assert "24 jobs" in out and "0 ok, 24 done" in out and "step " not in out  # nothing trained again
    assert all(again[k] == v for k, v in metrics.items() if not k.startswith("time/")) and len(metrics) > 20
    assert again["time/total_s"] == metrics["time/total_s"]  # each stage's seconds as it took when it ran
    assert "| deploy/synth0/tst/multimae/seed0 | done |" in (tmp_path / "report.md").read_text()
