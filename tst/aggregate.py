"""Finished jobs -> one table: each transfer job's metrics gathered into rows, then mean ± std over seeds.

The rows come from ``sweep.json`` (written by ``tst sweep`` and the demo: every job with its parameters
and status) or, without it, from the run-directory convention ``transfer/synth<j>/<init>/<objective>/
<task>/seed<s>/metrics.json``. A job that failed (or never ran because what it needed failed) still
gets a row, so the table marks it instead of silently averaging fewer seeds.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tst.atomic import write_text
from tst.pipeline import TASK_KEYS
from tst.tasks import metric_columns

METRIC_COLUMNS = metric_columns()  # every task's aggregated keys (tst.tasks), in table order
_TASK_OF = {k: t for t, keys in TASK_KEYS.items() for k in keys}
_OK = ("ok", "done")


def _task_metrics(path: Path, task: str) -> dict[str, float]:
    """The ``<task>/<name>`` numbers of a run's metrics.json (per-class keys left out)."""
    f = path / "metrics.json"
    if not f.is_file():
        return {}
    m = json.loads(f.read_text())
    return {k: float(v) for k, v in m.items()
            if k.startswith(f"{task}/") and k.count("/") == 1 and isinstance(v, (int, float))}


def _row(params: dict, status: str, error: str, scorer: Path) -> dict:
    task = params["task"]
    metrics = _task_metrics(scorer, task) if status in _OK else {}
    if status in _OK and not all(k in metrics for k in TASK_KEYS[task]):
        status, error = "failed", f"{scorer / 'metrics.json'} lacks {[k for k in TASK_KEYS[task] if k not in metrics]}"
    keep = {k: params[k] for k in ("scene", "init", "objective", "task", "seed") if k in params}
    return {**keep, "status": "ok" if status in _OK else status, "error": error, **metrics}


def sweep_rows(root: str | Path) -> list[dict]:
    """One row per transfer job: scene, init, objective, task, seed, status, error and the task's metrics."""
    root = Path(root)
    index = root / "sweep.json"
    if index.is_file():
        jobs = json.loads(index.read_text())["jobs"]
        by_name = {j["name"]: j for j in jobs}
        rows = []
        for j in jobs:
            if j["stage"] == "deploy" and j["params"].get("tasks"):  # heads of another cell scored here (matrix)
                rows += [_row({**j["params"], "task": t}, j["status"], j.get("error", ""), root / j["name"])
                         for t in j["params"]["tasks"]]
            if j["stage"] != "transfer":
                continue
            status, error, scorer = j["status"], j.get("error", ""), j["params"].get("scored_by") or j["name"]
            if status in _OK and scorer != j["name"]:  # `tst deploy` scored this head on the eval split
                status, error = by_name[scorer]["status"], by_name[scorer].get("error", "")
            rows.append(_row(j["params"], status, error, root / scorer))
        return rows
    rows = []
    for d in sorted(root.glob("transfer/synth*/*/*/*/seed*")):
        scene, init, objective, task, seed = d.relative_to(root / "transfer").parts
        if task not in TASK_KEYS:
            continue
        params = {"scene": int(scene[5:]), "init": init, "objective": objective, "task": task, "seed": int(seed[4:])}
        done = (d / "metrics.json").is_file()
        rows.append(_row(params, "ok" if done else "failed", "" if done else f"{d} has no metrics.json", d))
    return rows


@dataclass
class Cell:
    """One metric of one group: the seeds' values and how many of its jobs failed."""

    values: list[float] = field(default_factory=list)
    failed: int = 0

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (0 for a single seed)."""
        n = len(self.values)
        if n < 2:
            return 0.0 if n else math.nan
        mu = self.mean
        return math.sqrt(sum((v - mu) ** 2 for v in self.values) / (n - 1))

    def text(self) -> str:
        if not self.values:
            return "FAILED" if self.failed else "—"
        # one seed has no spread to show: "± 0.00" would claim a precision nobody measured
        s = f"{self.mean:.2f} ± {self.std:.2f}" if len(self.values) > 1 else f"{self.mean:.2f} (n=1)"
        return s + (f" ({self.failed}/{self.failed + len(self.values)} failed)" if self.failed else "")


def summarize(rows: Iterable[dict], by: Sequence[str],
              metrics: Sequence[str] = METRIC_COLUMNS) -> list[tuple[tuple, dict[str, Cell]]]:
    """Groups (values of ``by``, in first-seen order) -> metric -> Cell over the remaining keys (seeds)."""
    groups: dict[tuple, dict[str, Cell]] = {}
    for r in rows:
        cells = groups.setdefault(tuple(r.get(k) for k in by), {m: Cell() for m in metrics})
        for m in metrics:
            if _TASK_OF.get(m, m.split("/")[0]) != r["task"]:
                continue
            if r["status"] != "ok":
                cells[m].failed += 1
            elif m in r:
                cells[m].values.append(float(r[m]))
    return list(groups.items())


def markdown(summary: list[tuple[tuple, dict[str, Cell]]], by: Sequence[str],
             metrics: Sequence[str] = METRIC_COLUMNS) -> str:
    """A markdown table: one row per group, one column per metric, ``mean ± std`` over seeds."""
    used = [m for m in metrics if any(c[m].values or c[m].failed for _, c in summary)]
    lines = ["| " + " | ".join([*by, *used]) + " |", "|" + "---|" * (len(by) + len(used))]
    for key, cells in summary:
        lines.append("| " + " | ".join([*(str(k) for k in key), *(cells[m].text() for m in used)]) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[dict], out_dir: str | Path, by: Sequence[str] = ("scene", "init", "objective"),
                 metrics: Sequence[str] = METRIC_COLUMNS) -> tuple[Path, Path]:
    """``jobs.csv`` (one line per job), ``results.csv`` (mean/std/n/failed per group) and ``results.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cols = ["scene", "init", "objective", "task", "seed", "status"]
    extra = sorted({k for r in rows for k in r if "/" in k})
    with open(out / "jobs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*cols, *extra, "error"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    summary = summarize(rows, by, metrics)
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*by, *(f"{m}/{s}" for m in metrics for s in ("mean", "std", "n", "failed"))])
        for key, cells in summary:
            w.writerow([*key, *(v for m in metrics for v in (_num(cells[m].mean), _num(cells[m].std),
                                                              len(cells[m].values), cells[m].failed))])
    md = out / "results.md"
    failed = [r for r in rows if r["status"] != "ok"]
    notes = "".join(f"- {r['status']}: {r.get('init')}/{r.get('objective')}/{r['task']} seed {r.get('seed')}"
                    f" (scene {r.get('scene')}): {r.get('error', '')[:300]}\n" for r in failed)
    write_text(md, markdown(summary, by, metrics) + (f"\nJobs that did not finish:\n{notes}" if notes else ""))
    return out / "results.csv", md


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.6g}"
