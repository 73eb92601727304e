"""Floor plan of a procedural apartment: rooms, the doors that connect them, windows.

The apartment is a rectangle cut into rooms by recursive splits (a BSP), so rooms tile the
footprint exactly and every interior wall is shared by two rooms. Each room owns the inner half
(``HALF_WALL``) of the walls on its boundary; two rooms' halves meet back to back. Doors go on a
random spanning tree of the "shares enough wall" graph (plus sometimes one extra loop), so every
room is reachable from every other through a door; the bathroom is a dead end when the plan
allows it. Windows go on exterior walls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HALF_WALL = 0.07  # m: each room's share of a wall's thickness
DOOR_HEIGHT = 2.05  # m: top of a door opening
DOOR_MIN_SHARED = 1.5  # m of shared wall a door needs (opening + margins to the corners)
MIN_ROOM = 2.4  # m: shortest side of a room (outer, wall centre to wall centre)
SIDES = ("S", "E", "N", "W")  # wall at y0, x1, y1, x0


@dataclass
class Opening:
    """A hole in one side of a room's walls: along-wall interval [a0, a1] and heights [z0, z1]."""

    kind: str  # "door" | "window"
    a0: float
    a1: float
    z0: float
    z1: float


@dataclass
class RoomPlan:
    index: int
    kind: str  # a ROOM_TYPES entry
    rect: tuple[float, float, float, float]  # x0, y0, x1, y1: wall centre lines (outer)
    openings: dict[str, list[Opening]] = field(default_factory=lambda: {s: [] for s in SIDES})
    exterior: set[str] = field(default_factory=set)  # sides on the apartment boundary

    @property
    def inner(self) -> tuple[float, float, float, float]:
        """Free floor rectangle inside the walls."""
        x0, y0, x1, y1 = self.rect
        return x0 + HALF_WALL, y0 + HALF_WALL, x1 - HALF_WALL, y1 - HALF_WALL

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.rect
        return (x1 - x0) * (y1 - y0)


@dataclass
class DoorPlan:
    rooms: tuple[int, int]
    axis: int  # 0: the wall runs along x (door in a S/N side); 1: along y
    at: float  # coordinate of the shared wall centre line (y for axis 0, x for axis 1)
    a0: float  # opening along the wall
    a1: float
    swing: int  # room index the open leaf stands in


@dataclass
class FloorPlan:
    width: float
    depth: float
    height: float  # floor to ceiling
    rooms: list[RoomPlan]
    doors: list[DoorPlan]


def _cm(x: float) -> float:
    """Round down to whole centimetres (never up: a rounded width must still fit its range)."""
    return float(np.floor(float(x) * 100 + 1e-9) / 100)


def _split(rng: np.random.Generator, width: float, depth: float, n: int) -> list[tuple]:
    """Cut the footprint into up to ``n`` rectangles, always splitting the largest splittable one."""
    rects = [(0.0, 0.0, width, depth)]
    while len(rects) < n:
        order = sorted(range(len(rects)), key=lambda i: -(rects[i][2] - rects[i][0]) * (rects[i][3] - rects[i][1]))
        for i in order:
            x0, y0, x1, y1 = rects[i]
            axis = 0 if (x1 - x0) >= (y1 - y0) else 1
            lo, hi = (x0, x1) if axis == 0 else (y0, y1)
            if hi - lo < 2 * MIN_ROOM:
                continue
            cut = round(float(rng.uniform(max(lo + MIN_ROOM, lo + 0.35 * (hi - lo)),
                                          min(hi - MIN_ROOM, lo + 0.65 * (hi - lo)))), 1)
            a, b = ((x0, y0, cut, y1), (cut, y0, x1, y1)) if axis == 0 else ((x0, y0, x1, cut), (x0, cut, x1, y1))
            rects[i:i + 1] = [a, b]
            break
        else:
            break  # nothing can be split further
    return rects


def _shared(a: tuple, b: tuple) -> tuple[int, float, float, float] | None:
    """(axis, wall coordinate, overlap start, overlap end) of the wall two rectangles share."""
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    if np.isclose(ay1, by0) or np.isclose(by1, ay0):  # stacked in y: wall along x
        at = ay1 if np.isclose(ay1, by0) else ay0
        lo, hi = max(ax0, bx0), min(ax1, bx1)
        return (0, at, lo, hi) if hi - lo > 1e-6 else None
    if np.isclose(ax1, bx0) or np.isclose(bx1, ax0):
        at = ax1 if np.isclose(ax1, bx0) else ax0
        lo, hi = max(ay0, by0), min(ay1, by1)
        return (1, at, lo, hi) if hi - lo > 1e-6 else None
    return None


def _side_of(rect: tuple, axis: int, at: float) -> str:
    x0, y0, x1, y1 = rect
    if axis == 0:
        return "S" if np.isclose(at, y0) else "N"
    return "W" if np.isclose(at, x0) else "E"


def _room_kinds(rng: np.random.Generator, rects: list[tuple]) -> list[str]:
    """Largest room -> living room, smallest -> bathroom; of the rest, bedrooms take the roomiest
    (largest shortest side: a bed needs to fit with space to walk around it), then kitchen,
    office and hallway in random order."""
    n = len(rects)
    areas = np.array([(r[2] - r[0]) * (r[3] - r[1]) for r in rects])
    short = np.array([min(r[2] - r[0], r[3] - r[1]) for r in rects])
    order = np.argsort(-areas, kind="stable")
    kinds = [""] * n
    kinds[order[0]] = "living room"
    if n == 2:
        kinds[order[1]] = "bedroom"
    if n >= 3:
        kinds[order[-1]] = "bathroom"
        middle = sorted(order[1:-1], key=lambda i: -short[i])
        others = ["kitchen"] + [str(k) for k in rng.permutation(["office", "hallway"])] + ["office", "hallway"]
        names = ["bedroom"] + others[:1] + (["bedroom"] if n >= 6 else []) + others[1:]
        for i, k in zip(middle, names):
            kinds[i] = k
        if n >= 4:  # bedroom and kitchen in random order among the two roomiest, so kitchens vary too
            a, b = middle[0], middle[1]
            if short[b] >= 2.9 and rng.random() < 0.5:
                kinds[a], kinds[b] = kinds[b], kinds[a]
    return kinds


def _grow(rng: np.random.Generator, edges: dict, seen: set, chosen: list, allowed) -> None:
    """Add random edges leaving the ``seen`` set, among those ``allowed(edge, seen)``, while any exist."""
    while True:
        frontier = [e for e in edges if (e[0] in seen) != (e[1] in seen) and allowed(e, seen)]
        if not frontier:
            return
        e = frontier[int(rng.integers(len(frontier)))]
        chosen.append(e)
        seen |= set(e)


def _door_tree(rng: np.random.Generator, kinds: list[str], edges: dict) -> list[tuple[int, int]]:
    """A random spanning tree of doors: shared rooms (living room, hallway, kitchen, office) are
    connected first, then bedrooms and the bathroom hang off them as dead ends (nobody walks
    through a bedroom to reach the kitchen) unless the plan leaves no other way; plus maybe a loop."""
    private = ("bedroom", "bathroom")
    shared = {i for i, k in enumerate(kinds) if k not in private}
    chosen: list[tuple[int, int]] = []
    seen = {kinds.index("living room")}
    _grow(rng, edges, seen, chosen, lambda e, _: e[0] in shared and e[1] in shared)
    _grow(rng, edges, seen, chosen, lambda e, sn: (e[0] if e[0] in sn else e[1]) in shared)
    _grow(rng, edges, seen, chosen, lambda e, _: True)
    rest = [e for e in edges if e not in chosen and e[0] in shared and e[1] in shared]
    if rest and rng.random() < 0.35:
        chosen.append(rest[int(rng.integers(len(rest)))])
    return chosen


def make_floor_plan(rng: np.random.Generator, num_rooms: int | None = None) -> FloorPlan:
    """A connected floor plan; retries the footprint until every room can get a door."""
    if num_rooms is not None and not 1 <= num_rooms <= 8:
        raise ValueError(f"num_rooms must be in 1..8, got {num_rooms}")
    for _ in range(50):
        n = int(num_rooms if num_rooms is not None else rng.integers(4, 7))
        width = round(float(rng.uniform(2.6 + 1.5 * n, 4.0 + 1.7 * n)), 1)
        depth = round(float(rng.uniform(max(MIN_ROOM + 0.6, 0.55 * width), max(MIN_ROOM + 1.0, 0.8 * width))), 1)
        rects = _split(rng, width, depth, n)
        if len(rects) != n:
            continue
        edges = {}
        for i in range(n):
            for j in range(i + 1, n):
                s = _shared(rects[i], rects[j])
                if s is not None and s[3] - s[2] >= DOOR_MIN_SHARED:
                    edges[(i, j)] = s
        kinds = _room_kinds(rng, rects)
        tree = _door_tree(rng, kinds, edges)
        if len(set(sum(tree, ()))) < n and n > 1:
            continue  # some room shares too little wall with the others
        break
    else:
        raise RuntimeError("could not lay out a connected apartment in 50 tries; try another seed or num_rooms")
    height = round(float(rng.uniform(2.5, 2.9)), 2)
    rooms = [RoomPlan(i, kinds[i], rects[i]) for i in range(n)]
    for r in rooms:
        x0, y0, x1, y1 = r.rect
        r.exterior = {s for s, on in zip(SIDES, (np.isclose(y0, 0), np.isclose(x1, width),
                                                  np.isclose(y1, depth), np.isclose(x0, 0))) if on}
    doors = []
    for i, j in tree:
        axis, at, lo, hi = edges[(i, j)]
        w = _cm(rng.uniform(0.85, min(1.0, hi - lo - 0.6)))  # 0.3 m to each end of the shared wall
        a0 = round(float(rng.uniform(lo + 0.3, hi - 0.3 - w)), 2)
        swing = i if kinds[j] == "hallway" or rng.random() < 0.5 else j
        doors.append(DoorPlan((i, j), axis, at, a0, a0 + w, swing))
        for k in (i, j):
            rooms[k].openings[_side_of(rects[k], axis, at)].append(Opening("door", a0, a0 + w, 0.0, DOOR_HEIGHT))
    for r in rooms:
        _add_windows(rng, r, height)
    return FloorPlan(width, depth, height, rooms, doors)


def side_span(rect: tuple, side: str) -> tuple[float, float]:
    """Along-wall extent of a side: x for S/N, y for E/W."""
    x0, y0, x1, y1 = rect
    return (x0, x1) if side in ("S", "N") else (y0, y1)


def _add_windows(rng: np.random.Generator, room: RoomPlan, height: float) -> None:
    """One window on most exterior sides long enough; bathrooms get a small high one."""
    sides = [s for s in SIDES if s in room.exterior]
    for k, side in enumerate(rng.permutation(sides)):
        lo, hi = side_span(room.rect, str(side))
        length = hi - lo
        if length < 1.6 or (k > 0 and rng.random() < 0.4):
            continue
        small = room.kind in ("bathroom", "hallway")
        wmax = length - 0.9  # keep 0.4 m (and rounding room) to the corners
        w = _cm(rng.uniform(0.6, min(0.9, wmax)) if small else rng.uniform(min(1.0, wmax), min(2.0, wmax)))
        a0 = round(float(rng.uniform(lo + 0.4, hi - 0.4 - w)), 2)
        sill = 1.4 if room.kind == "bathroom" else round(float(rng.uniform(0.8, 1.0)), 2)
        top = round(min(height - 0.25, 2.2), 2)
        room.openings[str(side)].append(Opening("window", a0, a0 + w, sill, top))
