"""The habitat-lab sensor against the real habitat-lab classes (registry, Sensor, SensorSuite, gym
spaces), run in .venv-habitat because habitat-lab pins numpy 1.26 and gym < 0.23 (`make habitat-venv`,
which `make test` runs). Outside CI a missing venv skips with that command; in CI (TST_CI=1) it fails."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tests.transfer.synthetic import write_split
from tst.cli import config_dir
from tst.transfer.run import run

ROOT = Path(__file__).resolve().parents[2]
PYTHON = Path(os.environ.get("TST_HABITAT_PYTHON", ROOT / ".venv-habitat" / "bin" / "python"))


def test_sensor_registers_observes_and_keeps_distinct_uuids_in_real_habitat_lab(tmp_path):
    if not PYTHON.is_file():
        msg = f"{PYTHON} is missing: run `make habitat-venv` (make test does)"
        if os.environ.get("TST_CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    split = write_split(tmp_path / "split", n=8)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="transfer", overrides=[
            "task=semseg", "task.head=linear", f"data={split}", f"out={tmp_path / 'head'}", "logger=none",
            "batch_size=4", "eval_batch_size=4", "warmup=1", "val_fraction=0.25", "steps=2"])
    run(cfg)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(PYTHON), str(ROOT / "tests/transfer/habitat_lab_check.py"), str(tmp_path / "head")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["numpy"].startswith("1.26.") and facts["gym"].startswith("0.22.")  # habitat-lab's pins, not ours
    assert facts["uuids"] == ["tst_semseg_left", "tst_semseg_right"]
