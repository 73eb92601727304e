"""The analyses' figures, drawn headless (matplotlib Agg): grouped bars, a heatmap, a curve against a
reference line with the point where they cross. Each function takes plain numbers and a path, so
``tst report`` and the demo share them and tests can check the files without a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def bar_plot(values: Mapping[str, Mapping[str, float]], path: str | Path, *, title: str = "",
             errors: Mapping[str, Mapping[str, float]] | None = None, ylabel: str = "",
             reference: Mapping[str, float] | None = None, reference_label: str = "chance") -> Path:
    """Grouped bars: one group per metric (inner key), one bar per series (outer key, e.g. init).

    ``values[series][metric]``; NaN (failed or missing) draws no bar. Metrics of different scales
    (mIoU in %, CIDEr near 0–1) get one panel each so none is flattened by another. ``reference[metric]``
    draws a dashed line across that panel (e.g. the chance level), so a bar reads against its floor."""
    series = list(values)
    metrics = list(dict.fromkeys(m for s in series for m in values[s]))
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(2.2 + 2.0 * len(metrics), 3.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes[0], metrics):
        ticks = []
        for i, s in enumerate(series):
            v = values[s].get(m, math.nan)
            ticks.append(s if math.isnan(v) else f"{s}\n{v:.3g}")  # the value under its bar: no whisker covers it
            e = (errors or {}).get(s, {}).get(m, 0.0)
            if not math.isnan(v):
                ax.bar(i, v, yerr=e if e and not math.isnan(e) else None, color=colors[i % len(colors)], capsize=3)
        ref = (reference or {}).get(m)
        if ref is not None and not math.isnan(ref):
            ax.axhline(ref, color="k", ls="--", lw=1)
            ax.text(len(series) - 0.5, ref, reference_label, ha="right", va="bottom", fontsize=7)
        ax.set_xticks(range(len(series)), ticks, rotation=30, fontsize=8)
        ax.set_title(m, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def heatmap(matrix: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], path: str | Path, *,
            title: str = "", xlabel: str = "", ylabel: str = "") -> Path:
    """A matrix with every cell's value written in it (NaN cells left blank)."""
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(cols), 1.4 + 0.7 * len(rows)))
    im = ax.imshow([[math.nan if v is None else v for v in r] for r in matrix], cmap="viridis")
    for i, r in enumerate(matrix):
        for j, v in enumerate(r):
            if v is not None and not math.isnan(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(cols)), cols, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.05)
    return _save(fig, path)


def crossing_point(xs: Sequence[float], ys: Sequence[float], ref: float) -> float | None:
    """The first x at which the piecewise-linear curve (xs, ys) reaches ``ref`` from below, or None.

    Used as "how many external spaces the test space is worth": the curve is other-spaces pretraining
    against the number of spaces, ``ref`` the single test space. A curve that starts at or above
    ``ref`` crosses at its first x."""
    pts = [(x, y) for x, y in zip(xs, ys) if not math.isnan(y)]
    if not pts:
        return None
    if pts[0][1] >= ref:
        return float(pts[0][0])
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if y0 < ref <= y1:
            return float(x0 + (ref - y0) * (x1 - x0) / (y1 - y0))
    return None


def crossing_plot(xs: Sequence[float], ys: Sequence[float], ref: float, path: str | Path, *,
                  errors: Sequence[float] | None = None, title: str = "", xlabel: str = "", ylabel: str = "",
                  label: str = "other spaces", ref_label: str = "test space") -> tuple[Path, float | None]:
    """The curve, the reference as a horizontal line, and their crossing marked; returns (png, crossing x)."""
    x_cross = crossing_point(xs, ys, ref)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=label)
    ax.axhline(ref, color="k", ls="--", lw=1, label=ref_label)
    if x_cross is not None:
        ax.axvline(x_cross, color="r", ls=":", lw=1)
        ax.plot([x_cross], [ref], "r*", ms=10, label=f"crossing at {x_cross:.2f}")
    ax.set_xticks(list(xs))
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, path), x_cross


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
