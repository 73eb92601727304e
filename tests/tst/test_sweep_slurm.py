"""launcher=slurm without a cluster: the same launch code through submitit's local executor, with a
job that succeeds, one that needs it, a real ``tst collect`` refusal, and the job it blocks."""

import shutil
import sys

import pytest

pytest.importorskip("submitit", reason="submitit is a dev dependency (pip install -e '.[dev]')")

import tst.sweep as sweep  # noqa: E402
from tst.pipeline import Job  # noqa: E402

# a job that checks its upstream's output exists, then writes its own and names itself on stdout
SCRIPT = """
import pathlib, sys
out, need = pathlib.Path(sys.argv[1]), sys.argv[2:]
for n in need:
    assert (out.parent / n / "done.txt").read_text() == n, f"{n} has not finished"
out.mkdir(parents=True, exist_ok=True)
(out / "done.txt").write_text(out.name)
print("job", out.name, "ran")
"""


def _fake_stage(real):
    def stage_command(stage, argv, ddp=1):
        if stage == "collect":
            return real(stage, argv, ddp)  # the real CLI
        out = next(a.removeprefix("out=") for a in argv if a.startswith("out="))
        return [sys.executable, "-c", SCRIPT, out, *[a.removeprefix("need=") for a in argv if a.startswith("need=")]]
    return stage_command


def test_ok_failing_and_dependent_jobs_through_submitits_local_executor(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "stage_command", _fake_stage(sweep.stage_command))
    jobs = [Job("a", "echo", ()), Job("e", "echo", ()),
            Job("b", "echo", ("need=a", "need=e"), deps=("a", "e")),
            Job("bad", "collect", ("framez=3",)),  # a typo'd override: the real tst CLI refuses it
            Job("after_bad", "echo", (), deps=("bad",))]
    launch, parallel = sweep.make_launcher("slurm", tmp_path, {"timeout_min": 5}, cluster="local")
    assert parallel
    lines = []
    out = sweep.execute(jobs, tmp_path, launch, parallel=3, echo=lines.append)
    assert {k: v.status for k, v in out.items()} == {"a": "ok", "e": "ok", "b": "ok", "bad": "failed",
                                                       "after_bad": "blocked"}
    assert "framez" in out["bad"].error, out["bad"].error  # the job's own error comes back
    assert (tmp_path / "b" / "done.txt").read_text() == "b"
    # one executor per job: each job's submitit files sit in a folder named after it, with its own output
    for name in ("a", "e", "b"):
        logs = list((tmp_path / "slurm" / name).glob("*_log.out"))
        assert len(logs) == 1 and f"job {name} ran" in logs[0].read_text(), name
        assert (tmp_path / "logs" / f"{name}.log").read_text().startswith("local job ")
    assert not (tmp_path / "after_bad").exists()


def test_slurm_without_a_cluster_or_without_submitit_says_what_to_do(tmp_path, monkeypatch):
    launch, _ = sweep.make_launcher("slurm", tmp_path, {}, cluster="slurm")
    if shutil.which("srun") is None:
        with pytest.raises(SystemExit, match="no Slurm cluster here.*launcher.cluster=local"):
            launch(Job("a", "echo", ()), ["out=x"], tmp_path / "a.log")
    with pytest.raises(ValueError, match="launcher.cluster='pbs' is unknown"):
        sweep.make_launcher("slurm", tmp_path, {}, cluster="pbs")
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    with pytest.raises(SystemExit, match=r"launcher=slurm needs submitit.*\[slurm\]"):
        sweep.make_launcher("slurm", tmp_path, {})
