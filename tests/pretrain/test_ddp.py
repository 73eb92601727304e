"""DDP through torchrun and the CLI: 2 gloo processes on CPU compute the same losses as 1 process
on the same global batch (masks are drawn for the global batch, losses are per-sample means)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pretrain.fixtures import TINY, pretrain_cfg, write_split
from tst.pretrain.run import run


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    data = write_split(tmp_path / "split", n=8, size=32)
    run(pretrain_cfg(data, tmp_path / "single", "steps=3"))
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "tst.cli", "pretrain", f"data={data}",
           f"out={tmp_path / 'ddp'}", *TINY, "steps=3"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout

    def losses(d):
        rows = [json.loads(x) for x in (d / "log.jsonl").read_text().splitlines()]
        return {r["step"]: [r[f"train/{m}"] for m in ("loss", "rgb", "depth", "normal")] for r in rows}

    one, two = losses(tmp_path / "single"), losses(tmp_path / "ddp")
    assert sorted(two) == [1, 2, 3]
    for s in (1, 2, 3):
        assert two[s] == pytest.approx(one[s], rel=1e-4, abs=1e-5), f"step {s}"
    assert json.loads((tmp_path / "ddp" / "metrics.json").read_text())["pretrain/steps"] == 3
