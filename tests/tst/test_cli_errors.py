"""`tst <stage>` refusals end with one clear line naming the problem and the fix, with no Hydra
traceback above it (HYDRA_FULL_ERROR=1 still shows the traceback)."""

import os
import subprocess
import sys

import pytest

from tst.cli import main


def _cli(capsys, monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["tst", *argv])
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    err = capsys.readouterr().err
    return exc.value, err


def test_a_refusal_is_one_line_without_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    code, err = _cli(capsys, monkeypatch, "pretrain", f"data={tmp_path / 'nope'}", f"out={tmp_path / 'run'}",
                     "logger=none", "model=tst_vit_test", "device=cpu")
    assert "Traceback" not in err and "HYDRA_FULL_ERROR" not in err
    assert str(code.code).startswith("tst pretrain: ") and f"split directory {tmp_path / 'nope'} does not exist" \
        in str(code.code) and "\n" not in str(code.code)


def test_hydra_full_error_keeps_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["tst"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        main(["pretrain", f"data={tmp_path / 'nope'}", f"out={tmp_path / 'run'}", "logger=none",
              "model=tst_vit_test", "device=cpu"])


def test_an_unusable_parent_of_out_is_named_with_the_fix(tmp_path):
    """Root may write anywhere, so the parent here is a regular file: the same path through Hydra and
    RunDir as an unwritable directory (tests/tst/test_rundir.py covers EACCES itself)."""
    (tmp_path / "file").write_text("x")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    r = subprocess.run([sys.executable, "-m", "tst.cli", "pretrain", f"data={tmp_path}", f"out={tmp_path / 'file' / 'run'}",
                        "logger=none", "model=tst_vit_test", "device=cpu"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr, r.stderr
    assert last.startswith("tst pretrain: cannot write the run directory") and str(tmp_path / "file") in last
    assert "writable out=<dir>" in last
