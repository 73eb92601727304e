"""``tst sweep experiment=<name>``: run a grid of stage jobs (``tst.pipeline``) and aggregate the results.

    tst sweep experiment=analysis_gain launcher=local jobs=2      # parallel subprocesses on this machine
    tst sweep experiment=analysis_gain launcher=slurm             # one Slurm job per stage run (submitit)

Our own loop rather than Hydra's multirun: the grid is a graph of stages with shared upstream runs
(see ``tst.pipeline``), which Hydra sweeps cannot express. Each job runs as ``python -m tst.cli <stage>
overrides…`` — a subprocess locally (a crash or an out-of-memory kill stays in that job; the log goes
to ``<out>/logs/``) or a Slurm job through submitit (the optional ``slurm`` extra). A failed job keeps
everyone else's results; the jobs that needed it are marked ``blocked``; a re-run skips finished jobs
and retries only failed and blocked ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tst.atomic import write_json
from tst.pipeline import Job, compose_config, grid_from_config, is_done, plan_jobs, resumable
from tst.progress import bar, say

Launch = Callable[[Job, list[str], Path], None]  # (job, argv, log file) -> None, raises on failure


@dataclass
class Outcome:
    """What happened to a job: done (finished before), ok (ran now), failed, blocked (a dependency failed)."""

    status: str
    seconds: float = 0.0
    error: str = ""


def _argv(job: Job, root: Path, replace_changed: bool, inputs_newer: bool = False) -> list[str]:
    """A directory holding this job's config is continued (an interrupted run); one holding another
    config (the grid's steps changed, or a new tst version added keys) is replaced when
    ``replace_changed``, else the stage refuses it naming the keys that differ. One made from upstream
    outputs that have since been replaced (``inputs_newer``, see ``stale``) is always replaced."""
    if not (job.out(root) / "config.yaml").is_file():
        return job.argv(root)
    if inputs_newer:
        return [*job.argv(root), "overwrite=true"]
    if resumable(job, root):  # the same config, or one the stage continues (e.g. self_train added)
        return [*job.argv(root), "resume=true"]
    return [*job.argv(root), "overwrite=true" if replace_changed else "resume=true"]


def stale(job: Job, by_name: Mapping[str, Job], root: Path) -> bool:
    """True when a dependency finished after this job did (make's rule). Why: a job's own config can be
    unchanged while its inputs are not — a deploy job after its heads were retrained with new det
    settings kept scoring the old heads."""
    mine = job.out(root) / "metrics.json"
    if not mine.is_file():
        return False
    t = mine.stat().st_mtime_ns
    ups = (by_name[d].out(root) / "metrics.json" for d in job.deps if d in by_name)
    return any(p.is_file() and p.stat().st_mtime_ns > t for p in ups)


def _log_path(job: Job, root: Path) -> Path:
    return Path(root) / "logs" / (job.name.replace("/", "__") + ".log")


_BOILERPLATE = ("Config search path", "provider=", "Set the environment variable HYDRA_FULL_ERROR")


def _tail(path: Path, lines: int = 6) -> str:
    """The last lines of a failed job's log, without Hydra's search-path boilerplate."""
    if not path.is_file():
        return ""
    keep = [ln.strip() for ln in path.read_text(errors="replace").splitlines()
            if ln.strip() and not ln.strip().startswith(_BOILERPLATE)]
    return " | ".join(keep[-lines:])


def launch_inline(job: Job, argv: list[str], log: Path) -> None:
    """Run the stage in this process (the demo: no re-import per stage, progress straight to the terminal)."""
    from tst.cli import load_stage

    load_stage(job.stage)(compose_config(job.stage, argv))


def stage_command(stage: str, argv: list[str], ddp: int = 1) -> list[str]:
    """The command line of one job: ``python -m tst.cli <stage> …``, or for pretraining with ``ddp`` > 1
    data-parallel processes ``python -m torch.distributed.run --standalone --nproc_per_node=<ddp> …``
    (torchrun: one process per GPU with NCCL, or gloo processes on CPU; see tst/distributed.py)."""
    if ddp < 1:
        raise ValueError(f"sweep config: ddp={ddp!r} is invalid; use 1 (one process) or the processes per job")
    if stage == "pretrain" and ddp > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ddp}",
                "-m", "tst.cli", stage, *argv]
    return [sys.executable, "-m", "tst.cli", stage, *argv]


def subprocess_launcher(threads: int | None = None, ddp: int = 1) -> Launch:
    """Each job as a subprocess (``stage_command``); ``threads`` caps its OpenMP/torch threads, because
    parallel jobs that each spin one thread per core slow each other down many times over."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}

    def launch(job: Job, argv: list[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as fh:
            rc = subprocess.run(stage_command(job.stage, argv, ddp), stdout=fh,
                                stderr=subprocess.STDOUT, env=env).returncode
        if rc != 0:
            raise RuntimeError(f"exit code {rc}; log {log}: {_tail(log)}")

    return launch


def slurm_launcher(root: Path, params: dict[str, Any], ddp: int = 1, cluster: str = "slurm") -> Launch:
    """Each job becomes a Slurm job through submitit; ``cluster="local"`` runs the same jobs through
    submitit's local executor (no cluster needed: what CI tests).

    One executor per job: an executor holds the job name as mutable state and jobs are submitted
    from several threads, so a shared one could submit a job under another job's name. Each job's
    submitit files (stdout, stderr, pickles) go to ``<root>/slurm/<job name>/``."""
    try:
        import submitit
    except ImportError:
        raise SystemExit("launcher=slurm needs submitit, which is not installed: pip install -e '.[slurm]', "
                         "or use launcher=local jobs=N") from None
    if cluster not in ("slurm", "local"):
        raise ValueError(f"launcher.cluster={cluster!r} is unknown; choose slurm, or local (submitit on this machine)")

    def launch(job: Job, argv: list[str], log: Path) -> None:
        name = job.name.replace("/", "_")
        try:
            executor = submitit.AutoExecutor(folder=str(Path(root) / "slurm" / name), cluster=cluster)
        except RuntimeError as e:  # submitit: 'Could not detect "srun"'
            raise SystemExit(f"launcher=slurm: no Slurm cluster here ({e}); run the same jobs on this machine "
                             f"with launcher.cluster=local, or use launcher=local jobs=N") from None
        executor.update_parameters(**params, name=name)
        done = executor.submit(submitit.helpers.CommandFunction(stage_command(job.stage, argv, ddp)))
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{cluster} job {done.job_id} ({name}): {done.paths.stdout}\n")
        done.result()  # raises with the job's stderr on failure

    return launch


def first_on_critical_path(jobs: list[Job]) -> list[Job]:
    """The jobs in the order they start when several are ready: those with more jobs waiting on them
    (transitively) first, ties in list order.

    Why: in list order the demo's first free core trained the scratch head (nothing waits on it) while the
    other-spaces collection, its pretraining and four heads waited behind it; a pretraining or a collection
    that many jobs need holds up the whole run's tail."""
    children: dict[str, list[str]] = {j.name: [] for j in jobs}
    for j in jobs:
        for d in j.deps:
            children.setdefault(d, []).append(j.name)
    below: dict[str, set[str]] = {}

    def under(name: str) -> set[str]:
        if name not in below:
            below[name] = set()
            for c in children.get(name, ()):
                below[name] |= {c} | under(c)
        return below[name]

    order = {j.name: i for i, j in enumerate(jobs)}
    return sorted(jobs, key=lambda j: (-len(under(j.name)), order[j.name]))


def execute(jobs: list[Job], root: Path, launch: Launch, parallel: int = 1,
            echo: Callable[[str], None] = print, replace_changed: bool = True,
            progress: bool = False) -> dict[str, Outcome]:
    """Run every job whose dependencies finished, ``parallel`` at a time; never stops on a failure.
    ``progress``: a bar over the jobs with an ETA (on a terminal), the echo lines printed above it."""
    root, outcomes = Path(root), {}
    pending, total, t_start = first_on_critical_path(jobs), len(jobs), time.perf_counter()
    pbar = bar(total=total, desc="sweep", unit="job", enabled=progress)
    if progress and echo is print:
        echo = say
    running: dict[Future, tuple[Job, float]] = {}
    unfinished: set[str] = set()  # checked once: not finished by an earlier run
    by_name = {j.name: j for j in jobs}

    def start(pool: ThreadPoolExecutor, job: Job) -> None:
        old = stale(job, by_name, root)
        echo(f"[{len(outcomes) + len(running) + 1}/{total}] {job.stage} {job.name} ..."
             + (" (an upstream run is newer: replacing it)" if old else ""))
        running[pool.submit(launch, job, _argv(job, root, replace_changed, old), _log_path(job, root))] = (
            job, time.perf_counter())

    with ThreadPoolExecutor(max(1, parallel)) as pool:
        while pending or running:
            for job in list(pending):
                bad = [d for d in job.deps if outcomes.get(d, Outcome("")).status in ("failed", "blocked")]
                ready = all(d in outcomes for d in job.deps)
                if bad:
                    outcomes[job.name] = Outcome("blocked", error=f"needs {bad[0]}, which did not finish")
                    echo(f"    {job.name}: blocked ({bad[0]} did not finish)")
                elif ready and job.name not in unfinished and is_done(job, root) and not stale(job, by_name, root):
                    outcomes[job.name] = Outcome("done")
                    echo(f"    {job.name}: finished by an earlier run, skipped")
                elif ready and len(running) < max(1, parallel):
                    start(pool, job)
                else:
                    unfinished.update([job.name] if ready else [])
                    continue
                pending.remove(job)
            pbar.update(len(outcomes) - pbar.n)
            if not running:
                if pending:  # nothing runs and nothing can start: a dependency outside the job list
                    raise ValueError(f"jobs {[j.name for j in pending]} wait for jobs that are not in the list")
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                job, t0 = running.pop(fut)
                dt = time.perf_counter() - t0
                err = fut.exception()
                outcomes[job.name] = Outcome("failed" if err else "ok", round(dt, 2),
                                             f"{type(err).__name__}: {err}"[:2000] if err else "")
                echo(f"    {job.name}: {outcomes[job.name].status} in {dt:.1f} s"
                     + (f" -- {outcomes[job.name].error[:300]}" if err else ""))
                pbar.update(1)
    pbar.close()
    counts = {s: sum(o.status == s for o in outcomes.values()) for s in ("ok", "done", "failed", "blocked")}
    echo(f"{total} jobs in {time.perf_counter() - t_start:.0f} s: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return outcomes


def write_status(root: Path, jobs: list[Job], outcomes: dict[str, Outcome]) -> list[dict]:
    """``sweep.json``: every job's stage, parameters, status, error and seconds, what ``tst report`` reads.

    A job finished by an earlier run keeps the seconds it took then (from the previous sweep.json),
    so the wall time per stage survives a re-run that only skips."""
    path = Path(root) / "sweep.json"
    before = {j["name"]: j for j in json.loads(path.read_text())["jobs"]} if path.is_file() else {}
    entries = []
    for j in jobs:
        o = asdict(outcomes.get(j.name, Outcome("pending")))
        if o["status"] == "done" and j.name in before:
            o["seconds"] = before[j.name].get("seconds", 0.0)
        entries.append({"name": j.name, "stage": j.stage, "params": dict(j.params), **o})
    write_json(path, {"jobs": entries})
    return entries


def make_launcher(kind: str, root: Path, slurm: dict[str, Any] | None = None, threads: int | None = None,
                  ddp: int = 1, cluster: str = "slurm") -> tuple[Launch, bool]:
    """(launch function, whether it may run jobs in parallel)."""
    if kind == "local":
        return subprocess_launcher(threads, ddp), True
    if kind == "slurm":
        return slurm_launcher(root, slurm or {}, ddp, cluster), True
    if kind == "inline":
        return launch_inline, False
    raise ValueError(f"launcher.kind={kind!r} is unknown; choose local, slurm or inline")


def run(cfg) -> dict:
    from omegaconf import OmegaConf

    from tst.aggregate import sweep_rows, write_tables
    from tst.build import build
    from tst.rundir import RunDir

    root = Path(cfg.out)
    plain = OmegaConf.to_container(cfg, resolve=True)
    grid = grid_from_config(plain["grid"])  # fails early on unknown inits / tasks
    if int(cfg.jobs) < 1:
        raise ValueError(f"sweep config: jobs={cfg.jobs!r} is invalid; run at least 1 job at a time")
    # config.yaml records the latest settings; the grid may change between runs (more seeds, more
    # steps): every job checks its own run directory, so finished jobs are kept either way
    rd = RunDir(root, plain, resume=True, overwrite=bool(cfg.overwrite), may_differ=tuple(plain))
    launcher = plain["launcher"]
    launch, parallel_ok = build(launcher, root=root, threads=cfg.get("threads"), ddp=int(cfg.get("ddp", 1)))
    jobs = plan_jobs(grid, root)
    print(f"sweep {cfg.name}: {len(jobs)} jobs under {root} ({launcher['kind']} launcher, jobs={cfg.jobs})", flush=True)
    outcomes = execute(jobs, root, launch, int(cfg.jobs) if parallel_ok else 1, progress=bool(cfg.get("progress", True)),
                       replace_changed=bool(cfg.replace_changed))
    write_status(root, jobs, outcomes)
    rows = sweep_rows(root)
    csv_path, md_path = write_tables(rows, root, by=tuple(cfg.table_by))
    print(md_path.read_text(), flush=True)
    metrics = {f"sweep/{s}": sum(o.status == s for o in outcomes.values()) for s in ("ok", "done", "failed", "blocked")}
    metrics["sweep/jobs"] = len(jobs)
    rd.write_metrics(metrics, merge=False)
    if cfg.get("analysis"):
        from tst.report import render

        render(root, str(cfg.analysis), metric=cfg.get("metric"))
    return {**metrics, "csv": str(csv_path), "table": str(md_path)}
