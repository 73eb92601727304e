"""Putting objects into a room: against walls, in the middle, on walls, and clutter on surfaces.

A candidate placement is accepted only if every member of its group
- lies inside the room's free floor rectangle (touching the wall faces at most),
- does not overlap any placed object (axis-aligned boxes, a few cm of gap) except its support,
- stays out of the keep-out zones: the floor in front of each door (so passages stay clear) and
  the space in front of each window (tall furniture never blocks one),
and the room stays walkable: on a 10 cm grid, with obstacles grown by a body radius, every door
of the room is reachable from every other, and enough floor stays free.
Objects only turn by quarter turns, so all boxes stay exactly axis-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import label

from tst.envs.synth.clutter import CLUTTER, ON_SURFACE
from tst.envs.synth.layout import RoomPlan
from tst.envs.synth.mesh import Part
from tst.envs.synth.objects import Obj, Surface

SIDE_TURNS = {"S": 0, "E": 1, "N": 2, "W": 3}  # quarter turns that face a back-at-y=0 object into the room
GAP = 0.03  # m between furniture
WALL_GAP = 0.005  # m between a back and the wall it stands against
BODY = 0.25  # m: radius of a walker for the connectivity check
CELL = 0.1  # m: walkability grid
MIN_FREE = 0.25  # fraction of the floor that must stay walkable


@dataclass
class Placed:
    cls: str
    part: Part  # world frame
    lo: np.ndarray  # [3] AABB
    hi: np.ndarray  # [3]
    surfaces: list[Surface] = field(default_factory=list)  # world frame
    support: int | None = None  # index into RoomPlacer.placed
    walkable: bool = False
    hanging: bool = False


def _overlap(lo1, hi1, lo2, hi2) -> bool:
    """Strict overlap of two boxes: touching faces do not count."""
    return bool(np.all(lo1 < hi2) and np.all(lo2 < hi1))


def _surface_world(s: Surface, k: int, off) -> Surface:
    c, sn = [(1, 0), (0, 1), (-1, 0), (0, -1)][k % 4]
    pts = np.array([[s.lo[0], s.lo[1]], [s.hi[0], s.hi[1]]])
    xy = pts @ np.array([[c, -sn], [sn, c]]).T + np.asarray(off[:2])
    lo, hi = xy.min(0), xy.max(0)
    return Surface((float(lo[0]), float(lo[1])), (float(hi[0]), float(hi[1])), s.z + off[2], s.clearance, s.kind)


class RoomPlacer:
    """Placement state of one room."""

    def __init__(self, room: RoomPlan, height: float, rng: np.random.Generator,
                 blockers: list[tuple] = ()) -> None:
        """``blockers``: fixed obstacles to walk around (open door leaves), as (lo, hi) corners."""
        self.room, self.height, self.rng = room, height, rng
        self.blockers = [(np.asarray(lo, np.float64), np.asarray(hi, np.float64)) for lo, hi in blockers]
        x0, y0, x1, y1 = room.inner
        self.lo, self.hi = np.array([x0, y0]), np.array([x1, y1])
        self.placed: list[Placed] = []
        self.zones: list[tuple[np.ndarray, np.ndarray]] = []  # keep-out boxes
        self.doors: list[np.ndarray] = []  # [2] points just inside each door
        for side, ops in room.openings.items():
            for op in ops:
                if op.kind == "door":
                    self.zones.append(self._wall_box(side, op.a0 - 0.15, op.a1 + 0.15, 1.0, 0.0, height))
                    mid = self._wall_box(side, (op.a0 + op.a1) / 2, (op.a0 + op.a1) / 2, 0.4, 0, 0)
                    self.doors.append(mid[1][:2] if side in ("S", "W") else mid[0][:2])
                else:
                    self.zones.append(self._wall_box(side, op.a0 - 0.05, op.a1 + 0.05, 0.35, op.z0 - 0.05, op.z1))

    def _wall_box(self, side: str, a0: float, a1: float, depth: float, z0: float, z1: float):
        """Box of ``depth`` m in front of a wall side's interior face, spanning [a0, a1] along it."""
        (x0, y0), (x1, y1) = self.lo, self.hi
        lo, hi = {"S": ((a0, y0), (a1, y0 + depth)), "N": ((a0, y1 - depth), (a1, y1)),
                  "W": ((x0, a0), (x0 + depth, a1)), "E": ((x1 - depth, a0), (x1, a1))}[side]
        return np.array([*lo, z0]), np.array([*hi, z1])

    # ------------------------------------------------------------------ checks
    def _fits(self, cand: list[Placed], ignore_support: bool = False) -> bool:
        for c in cand:
            if np.any(c.lo[:2] < self.lo - 1e-9) or np.any(c.hi[:2] > self.hi + 1e-9) or c.hi[2] > self.height - 0.05:
                return False
            gap = np.array([GAP, GAP, 0.0])
            for z_lo, z_hi in self.zones:
                if _overlap(c.lo, c.hi, z_lo, z_hi):
                    return False
            for i, p in enumerate(self.placed):
                if ignore_support and i == c.support:
                    continue
                if _overlap(c.lo - gap, c.hi + gap, p.lo, p.hi):
                    return False
        return True

    def walkable(self, extra: list[Placed] = ()) -> bool:
        """All doors of the room connected on the grid, and enough floor left to walk on."""
        nx, ny = np.maximum(1, np.floor((self.hi - self.lo) / CELL).astype(int))
        cx = self.lo[0] + (np.arange(nx) + 0.5) * (self.hi[0] - self.lo[0]) / nx
        cy = self.lo[1] + (np.arange(ny) + 0.5) * (self.hi[1] - self.lo[1]) / ny
        free = np.ones((nx, ny), bool)  # [nx, ny]
        free[cx < self.lo[0] + BODY, :] = False
        free[cx > self.hi[0] - BODY, :] = False
        free[:, cy < self.lo[1] + BODY] = False
        free[:, cy > self.hi[1] - BODY] = False
        boxes = [(p.lo, p.hi) for p in [*self.placed, *extra] if not (p.walkable or p.hanging)] + self.blockers
        for lo, hi in boxes:
            if lo[2] > 1.9:
                continue
            mx = (cx > lo[0] - BODY) & (cx < hi[0] + BODY)
            my = (cy > lo[1] - BODY) & (cy < hi[1] + BODY)
            free[np.ix_(mx, my)] = False
        lab, _ = label(free)
        if not self.doors:
            return free.mean() >= MIN_FREE
        ids = set()
        for d in self.doors:
            i = int(np.argmin(np.abs(cx - d[0])))
            j = int(np.argmin(np.abs(cy - d[1])))
            ids.add(int(lab[i, j]))
        if 0 in ids or len(ids) != 1:
            return False
        return (lab == ids.pop()).mean() >= MIN_FREE

    # ------------------------------------------------------------------ placing
    def _to_world(self, group: list[Obj], k: int, off) -> list[Placed]:
        out = []
        for o in group:
            part = o.part.moved(k, off)
            out.append(Placed(o.cls, part, part.lo, part.hi, [_surface_world(s, k, off) for s in o.surfaces],
                              o.support, o.walkable, o.hanging))
        return out

    def _commit(self, cand: list[Placed]) -> list[Placed]:
        base = len(self.placed)
        for c in cand:
            if c.support is not None:
                c.support += base
            self.placed.append(c)
        return cand

    def place(self, group: list[Obj], mode: str, tries: int = 40) -> list[Placed] | None:
        """Try random poses of a group: ``mode`` is "wall" (back to a wall), "center" or "hang"."""
        for _ in range(tries):
            if mode == "center":
                k = int(self.rng.integers(4))
                probe = self._to_world(group, k, (0.0, 0.0, 0.0))
                glo, ghi = np.min([p.lo for p in probe], 0), np.max([p.hi for p in probe], 0)
                room = self.hi - self.lo - (ghi - glo)[:2]
                if np.any(room < 0):
                    return None
                t = self.lo - glo[:2] + self.rng.uniform(0, 1, 2) * room
                off = (float(t[0]), float(t[1]), 0.0)
            else:
                side = str(self.rng.choice(list(SIDE_TURNS)))
                k = SIDE_TURNS[side]
                probe = self._to_world(group, k, (0.0, 0.0, 0.0))
                glo, ghi = np.min([p.lo for p in probe], 0), np.max([p.hi for p in probe], 0)
                along = 0 if side in ("S", "N") else 1
                span = self.hi[along] - self.lo[along] - (ghi - glo)[along]
                if span < 0:
                    continue
                off = np.zeros(3)
                off[along] = self.lo[along] - glo[along] + self.rng.uniform(0, 1) * span
                across = 1 - along
                if side in ("S", "W"):
                    off[across] = self.lo[across] + WALL_GAP - glo[across]
                else:
                    off[across] = self.hi[across] - WALL_GAP - ghi[across]
                if mode == "hang":
                    h = ghi[2] - glo[2]
                    top = min(self.height - 0.2, 2.1)
                    if h > top - 1.1:
                        continue
                    off[2] = float(self.rng.uniform(max(1.1, top - h - 0.5), top - h)) - glo[2]
                off = tuple(float(v) for v in off)
            cand = self._to_world(group, k, off)
            if self._fits(cand) and (mode == "hang" or self.walkable(cand)):
                return self._commit(cand)
        return None

    def add_clutter(self, fill: float = 0.7) -> None:
        """Put small objects on the free surfaces of what is placed, resting exactly on them."""
        for si, sup in enumerate(list(self.placed)):
            for s in sup.surfaces:
                names = ON_SURFACE.get(s.kind, [])
                if not names or self.rng.random() > fill:
                    continue
                area = (s.hi[0] - s.lo[0]) * (s.hi[1] - s.lo[1])
                for _ in range(int(self.rng.integers(1, 2 + min(3, int(area / 0.15))))):
                    self._drop(si, s, str(self.rng.choice(names)))

    def _drop(self, support: int, s: Surface, name: str, tries: int = 12) -> Placed | None:
        obj = CLUTTER[name](self.rng, min(s.clearance, 0.6) - 0.01)
        if obj is None:
            return None
        k = int(self.rng.integers(4))
        probe = obj.part.moved(k)
        lo, hi = probe.lo, probe.hi
        room = np.array(s.hi) - np.array(s.lo) - (hi - lo)[:2]
        if np.any(room < 0) or hi[2] - lo[2] > s.clearance - 0.01:
            return None
        for _ in range(tries):
            t = np.array(s.lo) - lo[:2] + self.rng.uniform(0, 1, 2) * room
            part = obj.part.moved(k, (float(t[0]), float(t[1]), s.z - float(lo[2])))
            cand = Placed(obj.cls, part, part.lo, part.hi, support=support)
            if self._fits([cand], ignore_support=True):
                self.placed.append(cand)
                return cand
        return None

