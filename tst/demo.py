"""``python -m tst.demo [overrides]`` (``make demo``): the whole pipeline on one procedural space.

collect (pretrain, eval, external) -> pretrain TST on the test space and "other" on the external spaces
(same frames, steps and batch) -> transfer semseg / det / caption from each init (tst, scratch, other;
the same labelled external views and steps for all) -> ``tst deploy`` each init's heads on the test
space's eval split -> ``<out>/report.md`` (rows: init; mIoU, AP, AP50, CIDEr), ``gain.png``,
``metrics.json`` (``tst/semseg/mIoU``, ``scratch/det/AP``, …) and the wall time of every stage.

With ``jobs=1`` stages run in this process (``tst.sweep.launch_inline``): no re-import of torch / open3d
per stage and each stage's own progress output on the terminal, under a banner. With ``jobs=N`` (the
default, 2: one per core) up to N independent stages run at once as subprocesses of ``threads``
threads each, their output in ``<out>/logs/``: on 2 cores the demo's stages are single-threaded
work, so two at a time nearly halve its wall time. Every run directory lives under
``out``, so a re-run skips what finished and continues what was interrupted. The numbers are whatever
the run measures.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from tst.aggregate import METRIC_COLUMNS, summarize, sweep_rows
from tst.pipeline import compose_config, grid_from_config, plan_jobs
from tst.report import render
from tst.rundir import RunDir
from tst.sweep import execute, launch_inline, subprocess_launcher, write_status


def _banner(line: str) -> None:
    if line.startswith("["):
        print(f"\n{'=' * 100}\n== {line}\n{'=' * 100}", flush=True)
    else:
        print(line, flush=True)


def timings(entries: list[dict]) -> dict[str, float]:
    """Seconds per stage (summed over its jobs, as long as each took when it ran) and in total."""
    per: dict[str, float] = defaultdict(float)
    for e in entries:
        per[e["stage"]] += float(e.get("seconds") or 0.0)
    return {**{k: round(v, 1) for k, v in per.items()}, "total": round(sum(per.values()), 1)}


def run(cfg: DictConfig) -> dict:
    t_start = time.perf_counter()
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg.threads))
    root = Path(cfg.out)
    plain = OmegaConf.to_container(cfg, resolve=True)
    grid = grid_from_config(plain["grid"])
    if grid.deploy and importlib.util.find_spec("tst.transfer.deploy") is None:
        print("demo: tst deploy is not available in this version; heads are scored by transfer on the eval split")
        grid = dataclasses.replace(grid, deploy=False)
    rd = RunDir(root, plain, resume=True, may_differ=tuple(plain))  # the record of the last demo settings
    jobs = plan_jobs(grid, root)
    print(f"demo: {len(jobs)} stage runs under {root} (finished ones are skipped)", flush=True)
    parallel = max(1, int(cfg.get("jobs") or 1))
    launch = launch_inline if parallel == 1 else subprocess_launcher(threads=cfg.get("threads"))
    if parallel > 1:
        print(f"demo: {parallel} stages at a time as subprocesses; each one's output in {root / 'logs'}", flush=True)
    outcomes = execute(jobs, root, launch, parallel=parallel, echo=_banner)
    entries = write_status(root, jobs, outcomes)

    report = render(root, str(cfg.analysis))
    summary = summarize(sweep_rows(root), ("init",), METRIC_COLUMNS)
    metrics = {f"{init}/{m}": cells[m].mean for (init,), cells in summary for m in METRIC_COLUMNS
               if not math.isnan(cells[m].mean)}
    for m, v in ((report.get("space_map") or {}).get("means") or {}).items():  # tst + its space map, as deploy keys it
        task, name = m.split("/", 1)
        metrics[f"tst/{task}/map_{name}"] = v
    wall = time.perf_counter() - t_start
    per = timings(entries)
    metrics.update({f"time/{k}_s": v for k, v in per.items()})
    metrics["time/this_run_s"] = round(wall, 1)  # a re-run that only skips takes seconds
    rd.write_metrics(metrics, merge=False)
    print("\n" + (root / "report.md").read_text(), flush=True)
    failed = [n for n, o in outcomes.items() if o.status in ("failed", "blocked")]
    print(f"demo: {wall:.0f} s; report {root / 'report.md'}, plot {root / report['plot']}, metrics {root / 'metrics.json'}"
          + (f"; {len(failed)} stage runs did not finish: {failed}" if failed else ""), flush=True)
    return {**metrics, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    cfg = compose_config("demo", sys.argv[1:] if argv is None else argv)
    return 1 if run(cfg)["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
