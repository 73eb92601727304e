"""Run directories: config + provenance written, same config continues, different config refused."""

import json

import pytest
import yaml

from tst.rundir import RunDir, RunDirError, config_diff


def test_writes_config_provenance_and_merges_metrics(tmp_path):
    rd = RunDir(tmp_path / "run", {"seed": 3, "frames": 10, "out": "x"}, seed=3)
    assert yaml.safe_load((tmp_path / "run/config.yaml").read_text())["frames"] == 10
    prov = json.loads((tmp_path / "run/provenance.json").read_text())
    assert prov["seed"] == 3 and "torch" in prov["versions"] and prov["git"]
    import torch  # noqa: F401  (loaded: the record names the kernels it dispatches to)

    from tst.provenance import cpu
    assert cpu()["model"] and cpu()["capability"] in ("DEFAULT", "VSX", "ZVECTOR", "NO AVX", "AVX2", "AVX512",
                                                      "SVE256", "SVE128")
    assert prov["cpu"]["model"] == cpu()["model"]
    rd.write_metrics({"semseg/mIoU": 12.5})
    rd.write_metrics({"det/AP": 3.0})
    assert json.loads((tmp_path / "run/metrics.json").read_text()) == {"semseg/mIoU": 12.5, "det/AP": 3.0}


def test_same_config_reopens_and_volatile_keys_do_not_count(tmp_path):
    RunDir(tmp_path, {"frames": 10, "workers": 1, "out": "a"})
    assert RunDir(tmp_path, {"frames": 10, "workers": 2, "out": "b"}).resumed


def test_different_config_is_refused_with_the_differing_keys(tmp_path):
    RunDir(tmp_path, {"frames": 10, "scene": {"seed": 1}}).write_metrics({"collect/frames": 10})  # it ran
    with pytest.raises(RunDirError, match=r"scene\.seed: 1 -> 2.*overwrite=true"):
        RunDir(tmp_path, {"frames": 10, "scene": {"seed": 2}})
    rd = RunDir(tmp_path, {"frames": 10, "scene": {"seed": 2}}, overwrite=True)
    assert not rd.resumed


def test_resume_may_change_only_the_named_keys(tmp_path):
    RunDir(tmp_path, {"frames": 10, "seed": 0}).write_metrics({"collect/frames": 10})
    assert RunDir(tmp_path, {"frames": 20, "seed": 0}, resume=True, may_differ=("frames",)).resumed
    with pytest.raises(RunDirError, match="seed"):
        RunDir(tmp_path, {"frames": 20, "seed": 1}, resume=True, may_differ=("frames",))


def test_config_diff_lists_nested_and_missing_keys():
    assert config_diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0}) == ["a.c", "d"]


def test_unwritable_out_is_a_clear_error(tmp_path):
    """A path below a regular file cannot be created, even as root."""
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RunDirError, match="writable out=<dir>"):
        RunDir(tmp_path / "file.txt" / "run", {"a": 1})


def test_a_run_that_never_started_is_replaced_by_its_corrected_retry(tmp_path):
    """A typo found after config.yaml was written (scene.path, data=…) must not block the fixed command."""
    RunDir(tmp_path / "run", {"scene": {"path": "/no/such/scene.glb"}})
    (tmp_path / "run" / "log.jsonl").write_text("")  # a logger opened, nothing logged
    rd = RunDir(tmp_path / "run", {"scene": {"path": "/real/scene.glb"}})
    assert not rd.resumed
    assert yaml.safe_load((tmp_path / "run/config.yaml").read_text())["scene"]["path"] == "/real/scene.glb"
    (tmp_path / "run" / "shard-000000.tar").write_bytes(b"x")  # it started: now a changed config is refused
    with pytest.raises(RunDirError, match=r"scene\.path"):
        RunDir(tmp_path / "run", {"scene": {"path": "/other.glb"}})


def test_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        rd = RunDir(tmp_path / "run", {"a": 1})
        rd.write_metrics({"x/y": 1.0})
        for name in ("config.yaml", "provenance.json", "metrics.json"):
            assert oct((tmp_path / "run" / name).stat().st_mode & 0o777) == "0o644", name
        os.umask(0o077)
        rd.write_metrics({"x/y": 2.0})
        assert oct((tmp_path / "run" / "metrics.json").stat().st_mode & 0o777) == "0o600"
    finally:
        os.umask(old)


_HOLD = """
import sys, time
from tst.rundir import RunDir
rd = RunDir(sys.argv[1], {"a": 1})
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_naming_the_holder_pid(tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run([sys.executable, "-c", "import sys; from tst.rundir import RunDir; "
                                 "RunDir(sys.argv[1], {'a': 1})", str(tmp_path / "run")],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"process {holder.pid}" in second.stderr and "RunDirError" in second.stderr
        with pytest.raises(RunDirError, match=rf"in use by process {holder.pid}.*another out=<dir>"):
            RunDir(tmp_path / "run", {"a": 1}, overwrite=True)  # not even overwrite may take it
    finally:
        holder.kill()
        holder.wait()
    assert RunDir(tmp_path / "run", {"a": 1}).resumed  # the lock dies with its process
    assert RunDir(tmp_path / "run", {"a": 1}).resumed  # and this process may reopen its own run


def test_a_parent_without_write_permission_names_the_directory_and_the_fix(tmp_path, monkeypatch):
    """EACCES as a non-root user gets it (root writes anyway, so the refusal is injected)."""
    import errno
    from pathlib import Path

    real = Path.mkdir

    def denied(self, *a, **kw):
        if self == tmp_path / "locked" / "run":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(RunDirError, match=rf"cannot write the run directory {tmp_path / 'locked' / 'run'}: "
                                          rf"Permission denied.*writable out=<dir>"):
        RunDir(tmp_path / "locked" / "run", {"a": 1})
