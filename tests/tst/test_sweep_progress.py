"""A sweep shows a bar over its jobs with an ETA on a terminal; the job lines still reach stdout."""

import io
import sys

from tst.pipeline import Job
from tst.sweep import execute


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _launch(job, argv, log):
    if job.name == "b":
        raise RuntimeError("exit code 1")


def test_a_bar_over_the_jobs_counts_failed_and_blocked_ones(tmp_path, monkeypatch, capsys):
    jobs = [Job("a", "collect", ()), Job("b", "pretrain", (), deps=("a",)), Job("c", "transfer", (), deps=("b",))]
    monkeypatch.setattr(sys, "stderr", tty := _Tty())
    out = execute(jobs, tmp_path, _launch, progress=True)
    assert [out[j].status for j in "abc"] == ["ok", "failed", "blocked"]
    assert "sweep" in tty.getvalue() and "3/3" in tty.getvalue()
    assert "c: blocked" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stderr", pipe := io.StringIO())
    execute(jobs, tmp_path / "again", _launch, progress=True)
    assert pipe.getvalue() == ""
