"""Paired gains with a 95% interval (bootstrap or Student's t, the wider), and how much of the oracle gap an init closes.

Why paired: scenes differ far more than inits do (one apartment is simply harder than another), so
comparing the means of two inits drowns the gain in scene and seed spread. Differencing within a
(scene, seed) pair — same test space, same transfer seed, same labelled views — removes both, and an
interval over those pairs (below) is what the report states. Deterministic for a given
``seed`` so that a re-rendered report prints the same interval.

Why not the bootstrap alone: a percentile bootstrap over few pairs is far too narrow — over 3 pairs it
returns little more than their range, so three positive differences always "exclude zero" (the gain grid
at tst_vit_cpu printed +1.53 [+0.32, +3.88] from pairs +0.40, +3.88, +0.32, where Student's t gives
[-3.5, +6.6]). The stated interval is the wider of the two: the t interval governs small grids, the
bootstrap guards against a skewed distribution of differences once there are enough pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedGain:
    """``a - b`` over matched (scene, seed) pairs: mean, 95% interval (bootstrap or t, the wider), number of pairs."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def significant(self) -> bool:
        """True when the 95% interval excludes zero."""
        return self.n > 1 and (self.lo > 0 or self.hi < 0)

    def text(self) -> str:
        if self.n == 0:
            return "—"
        if self.n == 1:
            return f"{self.mean:+.2f} (1 pair, no interval)"
        return f"{self.mean:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}]" + (" *" if self.significant else "")


def _values(rows: Iterable[dict], init: str, metric: str) -> dict[tuple, float]:
    """(scene, seed) -> value of ``init``'s finished runs (one objective per init: the gain analysis)."""
    out: dict[tuple, float] = {}
    for r in rows:
        if r.get("init") == init and r.get("status") == "ok" and metric in r:
            key = (r.get("scene"), r.get("seed"))
            if key in out:
                raise ValueError(f"{init} has two runs for scene {key[0]} seed {key[1]} (several objectives?); "
                                 f"pair one objective at a time")
            out[key] = float(r[metric])
    return out


def pair_values(rows: list[dict], a: str, b: str, metric: str) -> list[tuple[float, float]]:
    """(a, b) values of every (scene, seed) where both finished."""
    va, vb = _values(rows, a, metric), _values(rows, b, metric)
    return [(va[k], vb[k]) for k in sorted(va, key=str) if k in vb]


def bootstrap_interval(diffs: np.ndarray, n_boot: int = 10_000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` (resampling pairs with replacement)."""
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n_boot, len(diffs)))].mean(axis=1)  # [n_boot]
    tail = (1.0 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def t_interval(diffs: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean of ``diffs`` (exact for normally distributed differences)."""
    n = len(diffs)
    half = stats.t.ppf(0.5 + level / 2, df=n - 1) * diffs.std(ddof=1) / math.sqrt(n)
    return float(diffs.mean() - half), float(diffs.mean() + half)


def paired_interval(diffs: np.ndarray, n_boot: int = 10_000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float]:
    """The wider of the percentile-bootstrap and Student's t intervals (why: the module docstring)."""
    b_lo, b_hi = bootstrap_interval(diffs, n_boot, seed, level)
    t_lo, t_hi = t_interval(diffs, level)
    return min(b_lo, t_lo), max(b_hi, t_hi)


def paired_gain(rows: list[dict], a: str, b: str, metric: str, n_boot: int = 10_000, seed: int = 0) -> PairedGain:
    pairs = pair_values(rows, a, b, metric)
    if not pairs:
        return PairedGain(math.nan, math.nan, math.nan, 0)
    diffs = np.array([x - y for x, y in pairs], dtype=np.float64)
    lo, hi = paired_interval(diffs, n_boot, seed) if len(diffs) > 1 else (math.nan, math.nan)
    return PairedGain(float(diffs.mean()), lo, hi, len(diffs))


def gap_closed(tst: float, scratch: float, oracle: float, higher_is_better: bool = True) -> float:
    """``(tst - scratch) / (oracle - scratch)``: 1 = as good as labels in the test space, 0 = no better than
    scratch, whichever way the metric points (depth AbsRel: lower is better, the ratio reads the same);
    NaN when the oracle is no better than scratch (there is no gap to close)."""
    gap = oracle - scratch
    if any(math.isnan(v) for v in (tst, scratch, oracle)) or (gap <= 0 if higher_is_better else gap >= 0):
        return math.nan
    return (tst - scratch) / gap
