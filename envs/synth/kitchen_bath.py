"""Kitchen and bathroom fixtures: counter runs with sink and oven, fridge, toilet, bathtub, vanity.

Same local frame as ``furniture.py``: back against the wall at y = 0, front towards +y.
"""

from __future__ import annotations

import numpy as np

from tst.envs.synth.mesh import box, concat, cylinder, lathe
from tst.envs.synth.objects import CERAMIC, PAINTS, WOODS, Obj, Surface, pick
from tst.envs.synth.textures import MAT

U = np.random.Generator
COUNTER_H, COUNTER_D = 0.9, 0.6


def _base_unit(x0: float, x1: float, front, top_col, top_mat: int) -> list:
    """Kitchen base cabinet [x0, x1] with a worktop; used by counter, sink and oven units."""
    h, d = COUNTER_H, COUNTER_D
    return [box((x0, 0, 0.1), (x1, d - 0.04, h - 0.04), MAT["wood"], front, 0.8),
            box((x0 + 0.02, 0, 0), (x1 - 0.02, d - 0.08, 0.1), MAT["wood"], (50, 50, 50), 0.8),
            box((x0, 0, h - 0.04), (x1, d, h), top_mat, top_col, 1.0)]


def kitchen_run(rng: U, max_w: float) -> list[Obj]:
    """Counter units along a wall, with a sink unit and an oven in the run (separate instances)."""
    front, top = pick(rng, WOODS + PAINTS), pick(rng, [(255, 255, 255), (200, 200, 205), (120, 120, 125)])
    units = ["counter", "sink", "counter", "oven"]
    if rng.random() < 0.5:
        units = units[::-1]
    widths = {"sink": float(rng.uniform(0.6, 0.9)), "oven": 0.6}
    fixed = sum(widths.values())
    total = float(min(max_w, rng.uniform(fixed + 1.0, fixed + 2.6)))
    free = total - fixed  # shared by the two counters
    split = float(rng.uniform(0.3, 0.7))
    widths_c = [free * split, free * (1 - split)]
    x, out = -total / 2, []
    for u in units:
        w = widths[u] if u in widths else widths_c.pop(0)
        out.append(_unit(rng, u, x, x + w, front, top))
        x += w
    return out


def _unit(rng: U, kind: str, x0: float, x1: float, front, top) -> Obj:
    h, d = COUNTER_H, COUNTER_D
    xc = (x0 + x1) / 2
    if kind == "counter":
        parts = _base_unit(x0, x1, front, top, MAT["stone"])
        for k in range(max(1, int((x1 - x0) / 0.5))):  # door fronts
            w = (x1 - x0) / max(1, int((x1 - x0) / 0.5))
            parts.append(box((x0 + k * w + 0.005, d - 0.04, 0.12), (x0 + (k + 1) * w - 0.005, d - 0.025, h - 0.06),
                             MAT["wood"], front, 0.8))
        return Obj("counter", concat(parts), [Surface((x0 + 0.02, 0.02), (x1 - 0.02, d - 0.02), h, 0.6, "counter")])
    if kind == "sink":
        parts = _base_unit(x0, x1, front, top, MAT["stone"])
        parts += [box((xc - 0.2, 0.12, h), (xc + 0.2, 0.48, h + 0.01), MAT["metal"], (170, 170, 175), 0.6),
                  cylinder(0.02, h, h + 0.3, MAT["metal"], (200, 200, 205), 8, (xc, 0.06)),
                  box((xc - 0.015, 0.06, h + 0.27), (xc + 0.015, 0.22, h + 0.3), MAT["metal"], (200, 200, 205), 0.6)]
        return Obj("sink", concat(parts))
    # oven: a steel box with a dark door window, knobs and a black cooktop
    parts = [box((x0, 0, 0), (x1, d - 0.02, h), MAT["metal"], (215, 215, 218), 0.6),
             box((x0 + 0.06, d - 0.02, 0.15), (x1 - 0.06, d, 0.6), MAT["screen"], (255, 255, 255), 2.0),
             box((x0 + 0.1, d - 0.02, 0.65), (x1 - 0.1, d + 0.02, 0.68), MAT["metal"], (170, 170, 170), 0.6),
             box((x0 + 0.01, 0.01, h), (x1 - 0.01, d - 0.03, h + 0.01), MAT["screen"], (255, 255, 255), 2.0)]
    for k in range(4):
        kx = x0 + 0.1 + k * (x1 - x0 - 0.2) / 3
        parts.append(box((kx - 0.015, d - 0.02, 0.75), (kx + 0.015, d + 0.01, 0.79), MAT["metal"], (60, 60, 60), 0.6))
    return Obj("oven", concat(parts))


def fridge(rng: U) -> list[Obj]:
    w, d, h = float(rng.uniform(0.6, 0.75)), float(rng.uniform(0.6, 0.7)), float(rng.uniform(1.7, 2.0))
    col = pick(rng, [(240, 240, 240), (200, 200, 205), (60, 60, 65)])
    split = h * 0.62
    parts = [box((-w / 2, 0, 0), (w / 2, d, h), MAT["metal"], col, 0.6),
             box((-w / 2 + 0.01, d, split + 0.01), (w / 2 - 0.01, d + 0.02, h - 0.01), MAT["metal"], col, 0.6),
             box((-w / 2 + 0.01, d, 0.05), (w / 2 - 0.01, d + 0.02, split - 0.01), MAT["metal"], col, 0.6),
             box((w / 2 - 0.08, d + 0.02, split + 0.1), (w / 2 - 0.05, d + 0.05, split + 0.5), MAT["metal"],
                 (150, 150, 150), 0.6),
             box((w / 2 - 0.08, d + 0.02, split - 0.4), (w / 2 - 0.05, d + 0.05, split - 0.1), MAT["metal"],
                 (150, 150, 150), 0.6)]
    return [Obj("fridge", concat(parts))]


def toilet(rng: U) -> list[Obj]:
    w = float(rng.uniform(0.36, 0.42))
    bowl_r, seat = w / 2, float(rng.uniform(0.4, 0.44))
    parts = [box((-w / 2 - 0.02, 0, 0.38), (w / 2 + 0.02, 0.2, 0.8), MAT["ceramic"], CERAMIC, 0.6),  # tank
             lathe([(bowl_r * 0.55, 0.0), (bowl_r * 0.6, 0.2), (bowl_r, seat - 0.03)], MAT["ceramic"], CERAMIC, 14,
                   (0, 0.2 + bowl_r + 0.05, 0)),
             box((-0.1, 0.2, 0.0), (0.1, 0.25, seat - 0.03), MAT["ceramic"], CERAMIC, 0.6),
             lathe([(bowl_r, seat - 0.03), (bowl_r, seat)], MAT["ceramic"], pick(rng, [(250, 250, 250), (40, 40, 40)]),
                   14, (0, 0.2 + bowl_r + 0.05, 0))]
    return [Obj("toilet", concat(parts))]


def bathtub(rng: U, max_w: float) -> list[Obj]:
    """A hollow tub: floor slab plus four rim walls (so a camera looks into it)."""
    w = float(min(max_w, rng.uniform(1.5, 1.8)))
    d, h, t = float(rng.uniform(0.7, 0.8)), float(rng.uniform(0.5, 0.6)), 0.08
    c, m = CERAMIC, MAT["ceramic"]
    parts = [box((-w / 2, 0, 0), (w / 2, d, 0.25), m, c, 0.6),
             box((-w / 2, 0, 0.25), (w / 2, t, h), m, c, 0.6),
             box((-w / 2, d - t, 0.25), (w / 2, d, h), m, c, 0.6),
             box((-w / 2, t, 0.25), (-w / 2 + t, d - t, h), m, c, 0.6),
             box((w / 2 - t, t, 0.25), (w / 2, d - t, h), m, c, 0.6),
             cylinder(0.02, h, h + 0.15, MAT["metal"], (200, 200, 205), 8, (-w / 2 + 0.2, 0.04))]
    return [Obj("bathtub", concat(parts))]


def vanity(rng: U, max_w: float) -> list[Obj]:
    """A bathroom sink: a small cabinet with a ceramic basin slab and a tap."""
    w = float(min(max_w, rng.uniform(0.5, 0.9)))
    d, h = float(rng.uniform(0.42, 0.5)), float(rng.uniform(0.8, 0.88))
    col = pick(rng, WOODS + PAINTS)
    parts = [box((-w / 2, 0, 0.1), (w / 2, d - 0.02, h - 0.12), MAT["wood"], col, 0.8),
             box((-w / 2 + 0.03, 0, 0), (w / 2 - 0.03, d - 0.05, 0.1), MAT["wood"], (60, 60, 60), 0.8),
             box((-w / 2, 0, h - 0.12), (w / 2, d, h), MAT["ceramic"], CERAMIC, 0.6),
             cylinder(0.018, h, h + 0.2, MAT["metal"], (200, 200, 205), 8, (0, 0.06)),
             box((-0.012, 0.06, h + 0.17), (0.012, 0.17, h + 0.2), MAT["metal"], (200, 200, 205), 0.6)]
    return [Obj("sink", concat(parts))]
