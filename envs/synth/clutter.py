"""Small objects that stand on surfaces: books, cups, bottles, vases, bowls, laptops, table lamps.

Built with their bottom at z = 0 around the local origin; the placer sets them on a surface so
that their lowest point is exactly the surface height.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tst.envs.synth.furniture import plant
from tst.envs.synth.mesh import box, concat, cylinder, lathe
from tst.envs.synth.objects import CERAMIC, Obj, pick
from tst.envs.synth.textures import MAT

U = np.random.Generator
BRIGHT = [(200, 60, 50), (50, 90, 160), (60, 140, 80), (230, 190, 60), (120, 60, 130), (240, 240, 235),
          (40, 40, 45), (200, 120, 60)]


def book(rng: U, max_h: float) -> Obj | None:
    """Lying flat, or a row of 2-6 standing books (one instance per book would be too small to see)."""
    w, d = float(rng.uniform(0.14, 0.22)), float(rng.uniform(0.2, 0.28))
    if rng.random() < 0.5 or max_h < 0.2:
        t = float(rng.uniform(0.02, 0.05))
        return Obj("book", box((-w / 2, -d / 2, 0), (w / 2, d / 2, t), MAT["paper"], pick(rng, BRIGHT), 0.4))
    parts, x = [], 0.0
    for _ in range(int(rng.integers(2, 7))):
        t, h = float(rng.uniform(0.02, 0.05)), float(min(max_h - 0.01, rng.uniform(0.18, 0.28)))
        parts.append(box((x, -w / 2, 0), (x + t, w / 2, h), MAT["paper"], pick(rng, BRIGHT), 0.4))
        x += t
    return Obj("book", concat(parts).moved(0, (-x / 2, 0, 0)))


def cup(rng: U, max_h: float) -> Obj:
    r, h = float(rng.uniform(0.035, 0.05)), float(rng.uniform(0.08, 0.11))
    return Obj("cup", lathe([(r * 0.8, 0), (r, h)], MAT["ceramic"], pick(rng, BRIGHT + [CERAMIC]), 12))


def bottle(rng: U, max_h: float) -> Obj:
    r, h = float(rng.uniform(0.03, 0.045)), float(rng.uniform(0.22, 0.32))
    col = pick(rng, [(60, 140, 70), (140, 90, 40), (220, 230, 240), (120, 30, 40)])
    prof = [(r, 0), (r, h * 0.6), (r * 0.35, h * 0.8), (r * 0.3, h)]
    return Obj("bottle", lathe(prof, MAT["glass"], col, 10))


def vase(rng: U, max_h: float) -> Obj:
    r, h = float(rng.uniform(0.05, 0.09)), float(rng.uniform(0.15, 0.35))
    prof = [(r * 0.6, 0), (r, h * 0.35), (r * 0.45, h * 0.85), (r * 0.6, h)]
    return Obj("vase", lathe(prof, MAT["ceramic"], pick(rng, BRIGHT), 12))


def bowl(rng: U, max_h: float) -> Obj:
    r = float(rng.uniform(0.07, 0.12))
    return Obj("bowl", lathe([(r * 0.45, 0), (r * 0.85, r * 0.35), (r, r * 0.6)], MAT["ceramic"],
                             pick(rng, BRIGHT + [CERAMIC]), 14))


def laptop(rng: U, max_h: float) -> Obj:
    w, d = float(rng.uniform(0.3, 0.36)), float(rng.uniform(0.21, 0.25))
    col = pick(rng, [(190, 190, 195), (50, 50, 55)])
    parts = [box((-w / 2, -d / 2, 0), (w / 2, d / 2, 0.018), MAT["metal"], col, 0.6)]
    if max_h > 0.25:  # open: a screen standing at the back edge
        parts += [box((-w / 2, -d / 2, 0.018), (w / 2, -d / 2 + 0.008, 0.018 + d), MAT["metal"], col, 0.6),
                  box((-w / 2 + 0.015, -d / 2 + 0.008, 0.03), (w / 2 - 0.015, -d / 2 + 0.01, d), MAT["screen"],
                      (255, 255, 255), 2.0)]
    return Obj("laptop", concat(parts))


def table_lamp(rng: U, max_h: float) -> Obj | None:
    h, r = float(rng.uniform(0.32, 0.5)), float(rng.uniform(0.1, 0.16))
    if h > max_h:
        return None
    parts = [cylinder(0.06, 0, 0.02, MAT["metal"], (70, 70, 75), 12),
             cylinder(0.012, 0.02, h - 0.18, MAT["metal"], (70, 70, 75), 8),
             lathe([(r, h - 0.2), (r * 0.65, h)], MAT["fabric"], pick(rng, [(250, 240, 215), (240, 240, 240)]), 14)]
    return Obj("lamp", concat(parts))


def small_plant(rng: U, max_h: float) -> Obj | None:
    p = plant(rng, small=True)[0]
    lo, hi = p.part.lo, p.part.hi
    if hi[2] > max_h:
        return None
    p.part = p.part.moved(0, (-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, 0))
    return p


# clutter builder by name; each takes (rng, max height) and may return None when it cannot fit
CLUTTER: dict[str, Callable[[U, float], Obj | None]] = {
    "book": book, "cup": cup, "bottle": bottle, "vase": vase, "bowl": bowl, "laptop": laptop,
    "lamp": table_lamp, "plant": small_plant,
}

# what suits which surface kind (Surface.kind)
ON_SURFACE: dict[str, list[str]] = {
    "table": ["cup", "bowl", "vase", "book", "bottle", "plant"],
    "shelf": ["book", "book", "book", "vase", "plant", "bowl"],
    "counter": ["bottle", "cup", "bowl", "bottle", "plant"],
    "nightstand": ["lamp", "book", "cup"],
    "desk": ["laptop", "lamp", "book", "cup"],
    "cabinet": ["vase", "book", "plant", "lamp", "bowl"],
    "wardrobe": [],
    "stand": ["vase", "book"],
}
