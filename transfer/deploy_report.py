"""``report.md`` of a deploy run: what a person reads first (metrics.json is what scripts read).

Tables: the headline metrics per head, per-class IoU (semseg, and the agent's top-down map),
the vocabulary mismatches (head classes without an eval class; eval classes no head predicts),
speeds, and links to the overlay PNGs / agent demo files, all relative to the run directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tst.tasks import task_info


def _fmt(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]


def per_class_rows(metrics: Mapping[str, float], prefix: str) -> list[tuple[str, float]]:
    """(class, IoU) for every ``<prefix>/IoU/<class>`` key, worst first (what to look at)."""
    tag = f"{prefix}/IoU/"
    return sorted(((k[len(tag):], v) for k, v in metrics.items() if k.startswith(tag)), key=lambda r: r[1])


def report_text(metrics: Mapping[str, float], heads: Mapping[str, Mapping[str, Any]], overlays: Sequence[Path],
                data: str | Path, agent: Mapping[str, Any] | None, run_dir: Path) -> str:
    lines = ["# Deploy report", "", f"Eval split: `{data}` ({metrics.get('deploy/eval_views', '?')} views).", ""]
    lines += ["## Metrics per head", ""]
    rows = []
    for name, h in heads.items():
        for key in task_info(name).headline:
            # map_: the same score with the test space's map read through each view's depth and pose
            for k in (key, key.replace("/", "/map_", 1)):
                if k in metrics:
                    rows.append((name, k, metrics[k], f"{metrics.get(f'deploy/{name}/images_per_s', 0):.1f}",
                                 f"`{h.get('source', '')}`"))
    lines += _table(("head", "metric", "value", "images/s", "head file"), rows) + [""]
    for name in heads:
        iou = per_class_rows(metrics, name)
        if iou:
            lines += [f"## Per-class IoU ({name})", ""] + _table(("class", "IoU"), iou) + [""]
    mismatch = [(n, ", ".join(h["unmapped"]) or "-", ", ".join(h["uncovered"]) or "-")
                for n, h in heads.items() if task_info(n).vocabulary]
    if mismatch:
        lines += ["## Vocabulary", "", "Head classes with no eval-split class are never scored; eval classes no "
                  "head class maps to are ignored in that head's scores.", ""]
        lines += _table(("head", "head classes without an eval class", "eval classes the head cannot predict"),
                        mismatch) + [""]
    if agent:
        lines += ["## Agent demo", ""]
        lines += _table(("metric", "value"), [(k, v) for k, v in agent["metrics"].items() if "/IoU/" not in k])
        lines += [""]
        map_iou = per_class_rows(metrics, "map")
        if map_iou:
            lines += ["Top-down map IoU per class:", ""] + _table(("class", "IoU"), map_iou) + [""]
        for key in ("video", "map_png"):
            if agent.get(key):
                rel = Path(agent[key]).relative_to(run_dir)
                lines += [f"![{key}]({rel})", ""]
        if agent.get("warning"):
            lines += [f"Note: {agent['warning']}", ""]
    if overlays:
        lines += ["## Overlays (rgb | ground truth | prediction)", ""]
        lines += [f"![{p.stem}]({p.relative_to(run_dir)})" for p in overlays] + [""]
    return "\n".join(lines)


def write_report(path: Path, metrics: Mapping[str, float], heads: Mapping[str, Mapping[str, Any]],
                 overlays: Sequence[Path], data: str | Path, agent: Mapping[str, Any] | None = None) -> Path:
    path = Path(path)
    path.write_text(report_text(metrics, heads, overlays, data, agent, path.parent), encoding="utf-8")
    return path
