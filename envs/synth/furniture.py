"""Floor-standing and wall-hung objects built from boxes and lathes, with varied proportions.

Each builder returns a list of ``Obj`` (a "group": a bed with its pillows, a table with its
chairs) in the local frame described in ``objects.py``. Proportions are drawn from plausible
ranges so that two beds of two seeds are not the same box.
"""

from __future__ import annotations

import numpy as np

from tst.envs.synth.mesh import box, concat, cylinder, lathe
from tst.envs.synth.objects import FABRICS, PAINTS, WOODS, Obj, Surface, pick
from tst.envs.synth.textures import MAT, PAINTINGS

U = np.random.Generator  # short alias for signatures


def _legs(w: float, d: float, h: float, t: float, mat: int, col, y0: float = 0.0) -> list:
    """Four square legs at the corners of [-w/2, w/2] x [y0, y0 + d], height h."""
    xs, ys = (-w / 2, w / 2 - t), (y0, y0 + d - t)
    return [box((x, y, 0), (x + t, y + t, h), mat, col, 0.8) for x in xs for y in ys]


def bed(rng: U, max_w: float) -> list[Obj]:
    w = float(min(max_w, rng.choice([0.9, 1.4, 1.6, 1.8])))
    length, wood = float(rng.uniform(2.0, 2.15)), pick(rng, WOODS)
    top = 0.5
    parts = [box((-w / 2, 0.06, 0.1), (w / 2, length, 0.3), MAT["wood"], wood, 0.8),
             box((-w / 2, 0.0, 0.0), (w / 2, 0.06, float(rng.uniform(0.8, 1.1))), MAT["wood"], wood, 0.8),
             box((-w / 2 + 0.02, 0.08, 0.3), (w / 2 - 0.02, length - 0.02, top), MAT["fabric"], (240, 240, 236), 0.5),
             box((-w / 2 + 0.01, 0.6, top), (w / 2 - 0.01, length - 0.01, top + 0.03), MAT["fabric"],
                 pick(rng, FABRICS), 0.5)]
    parts += _legs(w, length - 0.06, 0.1, 0.06, MAT["wood"], wood, 0.06)
    out = [Obj("bed", concat(parts))]
    n = 1 if w < 1.2 else 2
    pw = (w - 0.1) / n - 0.05
    col = pick(rng, FABRICS)
    for i in range(n):
        x0 = -w / 2 + 0.05 + i * (pw + 0.05)
        out.append(Obj("pillow", box((x0, 0.12, top), (x0 + pw, 0.52, top + 0.12), MAT["fabric"], col, 0.5),
                       support=0))
    return out


def cabinet_body(w: float, d: float, h: float, doors: int, col, kind: str = "cabinet", drawer: bool = False) -> Obj:
    """A box carcass with door (or drawer) panels and handles on its front; top is a surface."""
    parts = [box((-w / 2, 0, 0.06), (w / 2, d, h), MAT["wood"], col, 0.8),
             box((-w / 2 + 0.03, 0.03, 0), (w / 2 - 0.03, d - 0.03, 0.06), MAT["wood"], (60, 55, 50), 0.8)]
    pw = (w - 0.02) / doors
    for i in range(doors):
        x0 = -w / 2 + 0.01 + i * pw
        parts.append(box((x0 + 0.005, d, 0.08), (x0 + pw - 0.005, d + 0.015, h - 0.02), MAT["wood"], col, 0.8))
        hx = x0 + pw / 2 if drawer else (x0 + pw - 0.06 if i % 2 == 0 else x0 + 0.03)
        hz = h - 0.12 if drawer or h < 1.2 else h / 2
        parts.append(box((hx - 0.015, d + 0.015, hz - 0.05), (hx + 0.015, d + 0.04, hz + 0.05), MAT["metal"],
                         (190, 190, 195), 0.6))
    return Obj(kind, concat(parts), [Surface((-w / 2 + 0.03, 0.03), (w / 2 - 0.03, d - 0.03), h, 1.0, kind)])


def nightstand(rng: U) -> list[Obj]:
    w, d, h = float(rng.uniform(0.4, 0.55)), float(rng.uniform(0.35, 0.45)), float(rng.uniform(0.45, 0.6))
    return [cabinet_body(w, d, h, 1, pick(rng, WOODS), "nightstand", drawer=True)]


def wardrobe(rng: U, max_w: float) -> list[Obj]:
    w = float(min(max_w, rng.uniform(0.9, 1.8)))
    return [cabinet_body(w, float(rng.uniform(0.55, 0.62)), float(rng.uniform(1.9, 2.15)), 2 if w < 1.3 else 3,
                         pick(rng, WOODS), "wardrobe")]


def cabinet(rng: U, max_w: float, low: bool = False) -> list[Obj]:
    w = float(min(max_w, rng.uniform(0.8, 1.6)))
    h = float(rng.uniform(0.45, 0.6) if low else rng.uniform(0.75, 1.0))
    return [cabinet_body(w, float(rng.uniform(0.38, 0.5)), h, 2 if w < 1.2 else 3,
                         pick(rng, WOODS + PAINTS), "cabinet", drawer=low)]


def tv_stand(rng: U, max_w: float) -> list[Obj]:
    """A low cabinet with a TV standing on it."""
    stand = cabinet(rng, max_w, low=True)[0]
    w = stand.surfaces[0].hi[0] - stand.surfaces[0].lo[0]
    top, d = stand.surfaces[0].z, stand.surfaces[0].hi[1]
    sw = float(min(w - 0.1, rng.uniform(0.9, 1.5)))
    sh = sw * 9 / 16
    yc = d / 2
    parts = [box((-0.15, yc - 0.1, top), (0.15, yc + 0.1, top + 0.02), MAT["metal"], (40, 40, 45), 0.6),
             box((-0.03, yc - 0.02, top + 0.02), (0.03, yc + 0.02, top + 0.1), MAT["metal"], (40, 40, 45), 0.6),
             box((-sw / 2, yc - 0.03, top + 0.08), (sw / 2, yc + 0.03, top + 0.08 + sh), MAT["screen"], (255, 255, 255),
                 2.0)]
    stand.surfaces = []  # the TV takes the top
    return [stand, Obj("tv", concat(parts), support=0)]


def shelf(rng: U, max_w: float) -> list[Obj]:
    w = float(min(max_w, rng.uniform(0.6, 1.2)))
    d, h = float(rng.uniform(0.28, 0.38)), float(rng.uniform(1.2, 2.0))
    n = int(h // 0.38)
    col, t = pick(rng, WOODS), 0.025
    parts = [box((-w / 2, 0, 0), (-w / 2 + t, d, h), MAT["wood"], col, 0.8),
             box((w / 2 - t, 0, 0), (w / 2, d, h), MAT["wood"], col, 0.8),
             box((-w / 2 + t, 0, 0), (w / 2 - t, 0.01, h), MAT["wood"], col, 0.8)]
    zs = np.linspace(0.05, h - t, n + 1)
    surfaces = []
    for k, z in enumerate(zs):
        parts.append(box((-w / 2 + t, 0.01, z), (w / 2 - t, d, z + t), MAT["wood"], col, 0.8))
        if k < n:
            surfaces.append(Surface((-w / 2 + t, 0.01), (w / 2 - t, d), float(z + t), float(zs[k + 1] - z - t), "shelf"))
    surfaces.append(Surface((-w / 2, 0.0), (w / 2, d), float(h), 1.0, "shelf"))
    return [Obj("shelf", concat(parts), surfaces)]


def sofa(rng: U, max_w: float) -> list[Obj]:
    w = float(min(max_w, rng.uniform(1.6, 2.4)))
    d, col = float(rng.uniform(0.85, 1.0)), pick(rng, FABRICS)
    arm, seat, back = float(rng.uniform(0.1, 0.22)), float(rng.uniform(0.4, 0.46)), float(rng.uniform(0.75, 0.9))
    f = MAT["fabric"]
    parts = [box((-w / 2, 0, 0.08), (w / 2, d, seat - 0.12), f, col, 0.5),
             box((-w / 2, 0, seat - 0.12), (w / 2, 0.22, back), f, col, 0.5),
             box((-w / 2, 0.22, seat - 0.12), (-w / 2 + arm, d, seat + 0.18), f, col, 0.5),
             box((w / 2 - arm, 0.22, seat - 0.12), (w / 2, d, seat + 0.18), f, col, 0.5)]
    n = 2 if w < 2.0 else 3
    cw = (w - 2 * arm) / n
    for i in range(n):
        x0 = -w / 2 + arm + i * cw
        parts.append(box((x0 + 0.005, 0.22, seat - 0.12), (x0 + cw - 0.005, d - 0.01, seat), f, col, 0.5))
    parts += _legs(w - 0.1, d - 0.1, 0.08, 0.04, MAT["wood"], (90, 70, 55), 0.05)
    return [Obj("sofa", concat(parts))]


def chair(rng: U, col=None, armchair: bool = False) -> Obj:
    """Back at y = 0: a dining chair, or an upholstered armchair."""
    if armchair:
        w, d, fab = float(rng.uniform(0.7, 0.9)), float(rng.uniform(0.75, 0.9)), pick(rng, FABRICS)
        return Obj("chair", concat([
            box((-w / 2, 0, 0.08), (w / 2, d, 0.42), MAT["fabric"], fab, 0.5),
            box((-w / 2, 0, 0.42), (w / 2, 0.18, 0.85), MAT["fabric"], fab, 0.5),
            box((-w / 2, 0.18, 0.42), (-w / 2 + 0.12, d, 0.62), MAT["fabric"], fab, 0.5),
            box((w / 2 - 0.12, 0.18, 0.42), (w / 2, d, 0.62), MAT["fabric"], fab, 0.5),
            *_legs(w - 0.1, d - 0.1, 0.08, 0.04, MAT["wood"], (90, 70, 55), 0.05)]))
    col = col or pick(rng, WOODS)
    w, d, s = 0.44, 0.44, 0.45
    return Obj("chair", concat([
        box((-w / 2, 0, s - 0.04), (w / 2, d, s), MAT["wood"], col, 0.8),
        box((-w / 2, 0, s), (w / 2, 0.04, s + 0.42), MAT["wood"], col, 0.8),
        *_legs(w, d, s - 0.04, 0.04, MAT["wood"], col)]))


def table(rng: U, w: float, d: float, h: float, col, kind: str = "table", y0: float = 0.0) -> Obj:
    t = 0.04
    parts = [box((-w / 2, y0, h - t), (w / 2, y0 + d, h), MAT["wood"], col, 0.8)]
    parts += _legs(w - 0.06, d - 0.06, h - t, 0.05, MAT["wood"], col, y0 + 0.03)
    return Obj(kind, concat(parts), [Surface((-w / 2 + 0.02, y0 + 0.02), (w / 2 - 0.02, y0 + d - 0.02), h, 1.0, kind)])


def dining_set(rng: U, max_w: float) -> list[Obj]:
    """A table with chairs on its long sides (and ends when it is long); the group starts at y = 0."""
    w = float(min(max_w - 0.2, rng.uniform(1.0, 1.8)))
    d = float(rng.uniform(0.75, 0.95))
    col = pick(rng, WOODS)
    gap = 0.55  # chair depth + a little
    out = [table(rng, w, d, float(rng.uniform(0.72, 0.77)), col, "table", y0=gap)]
    ccol = pick(rng, WOODS + PAINTS)
    per_side = 1 if w < 1.3 else 2
    for k in range(per_side):
        x = (k + 0.5) * w / per_side - w / 2
        # chairs face the table: backs at y = 0 and y = 2 * gap + d
        out.append(Obj("chair", chair(rng, ccol).part.moved(0, (x, 0.0, 0.0))))
        out.append(Obj("chair", chair(rng, ccol).part.moved(2, (x, 2 * gap + d, 0.0))))
    return out


def desk_set(rng: U, max_w: float) -> list[Obj]:
    """A desk against the wall with a drawer block, and its chair pulled up in front."""
    w = float(min(max_w, rng.uniform(1.0, 1.6)))
    d, h, col = float(rng.uniform(0.55, 0.75)), float(rng.uniform(0.72, 0.76)), pick(rng, WOODS + PAINTS)
    t = 0.03
    parts = [box((-w / 2, 0, h - t), (w / 2, d, h), MAT["wood"], col, 0.8),
             box((-w / 2, 0, 0), (-w / 2 + t, d, h - t), MAT["wood"], col, 0.8),
             box((w / 2 - 0.42, 0, 0), (w / 2, d, h - t), MAT["wood"], col, 0.8),
             box((w / 2 - 0.4, d, h - 0.2), (w / 2 - 0.02, d + 0.015, h - 0.05), MAT["wood"], col, 0.8)]
    desk = Obj("desk", concat(parts), [Surface((-w / 2 + 0.02, 0.02), (w / 2 - 0.02, d - 0.02), h, 1.0, "desk")])
    seat = chair(rng, armchair=False)
    return [desk, Obj("chair", seat.part.moved(2, (-0.15, d + 0.5, 0.0)))]


def floor_lamp(rng: U) -> list[Obj]:
    h, r = float(rng.uniform(1.4, 1.8)), float(rng.uniform(0.18, 0.25))
    metal, shade = pick(rng, [(60, 60, 65), (200, 180, 120), (220, 220, 225)]), pick(rng, [(250, 240, 215), (235, 235, 235)])
    parts = [cylinder(0.14, 0.0, 0.03, MAT["metal"], metal, 16, (0, r)),
             cylinder(0.015, 0.03, h - 0.3, MAT["metal"], metal, 8, (0, r)),
             lathe([(r, h - 0.32), (r * 0.6, h)], MAT["fabric"], shade, 16, (0, r, 0))]
    return [Obj("lamp", concat(parts))]


def plant(rng: U, small: bool = False) -> list[Obj]:
    """A terracotta pot with a lumpy ball of leaves; centred at (0, r) so it can stand against a wall."""
    r = float(rng.uniform(0.08, 0.12) if small else rng.uniform(0.15, 0.25))
    ph = r * float(rng.uniform(1.0, 1.6))
    fh = float(rng.uniform(0.15, 0.35) if small else rng.uniform(0.5, 1.2))
    fr = r * float(rng.uniform(1.3, 2.0))
    prof = [(r * 0.6, ph - 0.01)] + [(fr * float(np.sin(np.pi * t) * rng.uniform(0.85, 1.0) + 0.02 * fr), ph + fh * t)
                                     for t in np.linspace(0.15, 0.95, 6)]
    c = (0.0, fr, 0.0)
    parts = [lathe([(r * 0.75, 0.0), (r, ph)], MAT["terracotta"], pick(rng, [(255, 255, 255), (230, 230, 230)]), 12, c),
             lathe(prof, MAT["leaves"], pick(rng, [(255, 255, 255), (220, 255, 220), (200, 230, 180)]), 10, c)]
    return [Obj("plant", concat(parts))]


def rug_set(rng: U, max_w: float, with_table: bool = True) -> list[Obj]:
    """A rug with (optionally) a coffee table standing on it; group starts at y = 0."""
    w = float(min(max_w, rng.uniform(1.4, 2.6)))
    d = float(min(max_w, rng.uniform(1.0, 1.8)))
    t = 0.01
    rug = Obj("rug", box((-w / 2, 0, 0), (w / 2, d, t), MAT["carpet"], pick(rng, FABRICS), min(w, d) + 0.01),
              walkable=True)
    out = [rug]
    if with_table:
        tw, td = float(min(w - 0.4, rng.uniform(0.8, 1.2))), float(min(d - 0.4, rng.uniform(0.5, 0.7)))
        tab = table(rng, tw, td, float(rng.uniform(0.35, 0.45)), pick(rng, WOODS), "table", y0=(d - td) / 2)
        tab.part = tab.part.moved(0, (0, 0, t))
        tab.surfaces = [Surface(s.lo, s.hi, s.z + t, s.clearance, s.kind) for s in tab.surfaces]
        tab.support = 0
        out.append(tab)
    return out


def picture(rng: U, max_w: float) -> list[Obj]:
    """A framed painting, back at y = 0, hung with its bottom at z = 0 (the placer lifts it)."""
    w = float(min(max_w, rng.uniform(0.4, 1.2)))
    h = w * float(rng.uniform(0.6, 1.3))
    fc, f = pick(rng, WOODS + [(30, 30, 30)]), 0.04
    parts = [box((-w / 2, 0, 0), (w / 2, 0.03, f), MAT["wood"], fc, 0.8),
             box((-w / 2, 0, h - f), (w / 2, 0.03, h), MAT["wood"], fc, 0.8),
             box((-w / 2, 0, f), (-w / 2 + f, 0.03, h - f), MAT["wood"], fc, 0.8),
             box((w / 2 - f, 0, f), (w / 2, 0.03, h - f), MAT["wood"], fc, 0.8),
             box((-w / 2 + f, 0, f), (w / 2 - f, 0.02, h - f), int(rng.choice(PAINTINGS)), (255, 255, 255), 2.0)]
    return [Obj("picture", concat(parts), hanging=True)]


def mirror(rng: U, max_w: float) -> list[Obj]:
    w = float(min(max_w, rng.uniform(0.4, 0.8)))
    h = float(rng.uniform(0.6, 0.9))
    parts = [box((-w / 2, 0, 0), (w / 2, 0.02, h), MAT["metal"], (150, 150, 155), 0.6),
             box((-w / 2 + 0.02, 0.02, 0.02), (w / 2 - 0.02, 0.025, h - 0.02), MAT["glass"], (230, 235, 240), 2.0)]
    return [Obj("mirror", concat(parts), hanging=True)]


def armchair(rng: U) -> list[Obj]:
    return [chair(rng, armchair=True)]
