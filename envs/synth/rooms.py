"""What goes into each room type, in which order, and how it is placed.

A program is a list of (builder, mode, required) steps placed in order, big things first, so
that a bedroom always gets its bed before the plant squeezes into a corner. Optional steps are
skipped at random (so rooms of the same type differ) and whenever they do not fit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tst.envs.synth import furniture as fu
from tst.envs.synth import kitchen_bath as fx
from tst.envs.synth.layout import RoomPlan
from tst.envs.synth.objects import Obj
from tst.envs.synth.placement import Placed, RoomPlacer

# a builder takes (rng, longest usable length along a wall) and returns a group of objects
Builder = Callable[[np.random.Generator, float], list[Obj]]


def _bed_set(rng: np.random.Generator, max_w: float) -> list[Obj]:
    """A bed, its pillows and one or two nightstands beside the headboard."""
    group = fu.bed(rng, max(0.9, max_w - 1.2))
    w = float(group[0].part.hi[0] - group[0].part.lo[0])
    for sgn in ((-1, 1) if rng.random() < 0.7 else (int(rng.choice([-1, 1])),)):
        ns = fu.nightstand(rng)[0]
        nw = float(ns.part.hi[0] - ns.part.lo[0])
        if w + 2 * (nw + 0.05) > max_w:
            break
        dx = sgn * (w / 2 + 0.05 + nw / 2)
        ns.part = ns.part.moved(0, (dx, 0.0, 0.0))
        ns.surfaces = [type(s)((s.lo[0] + dx, s.lo[1]), (s.hi[0] + dx, s.hi[1]), s.z, s.clearance, s.kind)
                       for s in ns.surfaces]
        group.append(ns)
    return group


def _opt(p: float, builder: Builder, mode: str = "wall") -> tuple[Builder, str, float]:
    return builder, mode, p


REQ = 1.0
PROGRAMS: dict[str, list[tuple[Builder, str, float]]] = {
    "living room": [
        (lambda r, m: fu.sofa(r, m), "wall", REQ), (fu.tv_stand, "wall", REQ),
        (lambda r, m: fu.rug_set(r, m), "center", REQ), _opt(0.7, lambda r, m: fu.armchair(r)),
        _opt(0.8, fu.shelf), _opt(0.7, lambda r, m: fu.floor_lamp(r)), _opt(0.8, lambda r, m: fu.plant(r)),
        _opt(0.4, lambda r, m: fu.cabinet(r, m)), _opt(0.9, fu.picture, "hang"), _opt(0.6, fu.picture, "hang")],
    "bedroom": [
        (_bed_set, "wall", REQ), (fu.wardrobe, "wall", REQ), _opt(0.4, fu.desk_set),
        _opt(0.5, lambda r, m: fu.rug_set(r, min(m, 1.6), with_table=False), "center"),
        _opt(0.6, lambda r, m: fu.plant(r)), _opt(0.5, lambda r, m: fu.cabinet(r, m, low=True)),
        _opt(0.8, fu.picture, "hang"), _opt(0.3, fu.mirror, "hang")],
    "kitchen": [
        (fx.kitchen_run, "wall", REQ), (lambda r, m: fx.fridge(r), "wall", REQ),
        (fu.dining_set, "center", 0.9), _opt(0.5, lambda r, m: fu.cabinet(r, m)),
        _opt(0.5, lambda r, m: fu.plant(r)), _opt(0.6, fu.picture, "hang")],
    "bathroom": [
        (fx.bathtub, "wall", REQ), (lambda r, m: fx.toilet(r), "wall", REQ), (fx.vanity, "wall", REQ),
        _opt(0.8, fu.mirror, "hang"), _opt(0.4, lambda r, m: fu.cabinet(r, min(m, 0.8), low=True)),
        _opt(0.4, lambda r, m: fu.plant(r, small=True))],
    "office": [
        (fu.desk_set, "wall", REQ), (fu.shelf, "wall", REQ), _opt(0.6, lambda r, m: fu.cabinet(r, m)),
        _opt(0.6, lambda r, m: fu.armchair(r)), _opt(0.7, lambda r, m: fu.plant(r)),
        _opt(0.6, lambda r, m: fu.floor_lamp(r)), _opt(0.8, fu.picture, "hang"),
        _opt(0.4, lambda r, m: fu.rug_set(r, min(m, 1.6), with_table=False), "center")],
    "hallway": [
        (lambda r, m: fu.cabinet(r, min(m, 1.2), low=True), "wall", REQ), _opt(0.6, fu.shelf),
        _opt(0.7, lambda r, m: fu.plant(r)), _opt(0.9, fu.picture, "hang"), _opt(0.5, fu.picture, "hang"),
        _opt(0.5, fu.mirror, "hang"), _opt(0.5, lambda r, m: fu.rug_set(r, min(m, 1.2), with_table=False), "center")],
}


def furnish(room: RoomPlan, height: float, rng: np.random.Generator, clutter: float = 0.7,
            blockers: list[tuple] = ()) -> tuple[list[Placed], int]:
    """Place a room's program (rebuilding a group a few times when it does not fit), then clutter.
    ``blockers`` are fixed obstacles the room must stay walkable around (its open door leaves).
    Returns the placed objects and how many required steps could not be placed."""
    if room.kind not in PROGRAMS:
        raise KeyError(f"no furnishing program for room type {room.kind!r}; known: {sorted(PROGRAMS)}")
    placer = RoomPlacer(room, height, rng, blockers)
    x0, y0, x1, y1 = room.inner
    longest = max(x1 - x0, y1 - y0) - 0.1
    missing = 0
    for builder, mode, p in PROGRAMS[room.kind]:
        if p < 1.0 and rng.random() > p:
            continue
        max_w = longest
        for _ in range(4):  # smaller and smaller variants of the same thing
            if placer.place(builder(rng, max_w), mode, tries=25) is not None:
                break
            max_w *= 0.8
        else:
            missing += p == REQ
    placer.add_clutter(clutter)
    return placer.placed, missing
