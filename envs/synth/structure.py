"""The building itself as meshes: per-room walls (with openings), floor and ceiling; door and
window objects filling the openings.

Walls are boxes: a solid stretch of a side is one full-height box, an opening leaves a box below
it (window sill) and one above it (lintel). S/N walls run the full room width, E/W walls fit
between them, so no two boxes of a room overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tst.envs.synth.layout import HALF_WALL, DoorPlan, FloorPlan, Opening, RoomPlan, side_span
from tst.envs.synth.mesh import Part, box, concat
from tst.envs.synth.textures import MAT, material_scale


@dataclass
class Piece:
    """One instance to be: a class name, its mesh (world frame) and a readable name."""

    cls: str
    part: Part
    name: str


def _wall_box(room: RoomPlan, side: str, a0: float, a1: float, z0: float, z1: float):
    """World [lo, hi] of the part [a0, a1] x [z0, z1] of one side's half wall."""
    x0, y0, x1, y1 = room.rect
    if side == "S":
        return (a0, y0, z0), (a1, y0 + HALF_WALL, z1)
    if side == "N":
        return (a0, y1 - HALF_WALL, z0), (a1, y1, z1)
    if side == "W":
        return (x0, a0, z0), (x0 + HALF_WALL, a1, z1)
    return (x1 - HALF_WALL, a0, z0), (x1, a1, z1)


def wall_boxes(room: RoomPlan, height: float) -> list[tuple[tuple, tuple]]:
    """All boxes of a room's walls, openings cut out."""
    out = []
    for side in ("S", "E", "N", "W"):
        lo, hi = side_span(room.rect, side)
        if side in ("E", "W"):  # fit between the S and N walls
            lo, hi = lo + HALF_WALL, hi - HALF_WALL
        cur = lo
        for op in sorted(room.openings[side], key=lambda o: o.a0):
            if op.a0 > cur:
                out.append(_wall_box(room, side, cur, op.a0, 0.0, height))
            if op.z0 > 0:
                out.append(_wall_box(room, side, op.a0, op.a1, 0.0, op.z0))
            if op.z1 < height:
                out.append(_wall_box(room, side, op.a0, op.a1, op.z1, height))
            cur = op.a1
        if hi > cur:
            out.append(_wall_box(room, side, cur, hi, 0.0, height))
    return out


def room_shell(rng: np.random.Generator, room: RoomPlan, height: float) -> list[Piece]:
    """Walls, floor and ceiling of one room, each its own instance."""
    x0, y0, x1, y1 = room.rect
    wet = room.kind in ("bathroom", "kitchen")
    wall_mat = MAT["tiles"] if room.kind == "bathroom" else MAT[str(rng.choice(["plaster", "plaster", "wallpaper"]))]
    wall_col = tuple(int(c) for c in rng.integers(200, 256, 3)) if wall_mat != MAT["tiles"] else (235, 240, 245)
    walls = concat([box(lo, hi, wall_mat, wall_col, material_scale(wall_mat)) for lo, hi in wall_boxes(room, height)])
    floor_mat = MAT["tiles"] if wet else MAT["planks"]
    floor_col = (200, 200, 195) if wet else tuple(int(c) for c in rng.integers(185, 256, 3))
    floor = box((x0, y0, 0.0), (x1, y1, 0.0), floor_mat, floor_col, material_scale(floor_mat), faces=((2, 1),))
    ceiling = box((x0, y0, height), (x1, y1, height), MAT["plaster"], (250, 250, 250), 2.0, faces=((2, -1),))
    tag = f"{room.kind} {room.index}"
    return [Piece("wall", walls, f"{tag} walls"), Piece("floor", floor, f"{tag} floor"),
            Piece("ceiling", ceiling, f"{tag} ceiling")]


def _along(axis: int, at: float, a0: float, a1: float, d0: float, d1: float, z0: float, z1: float):
    """Box spanning [a0, a1] along a wall of the given axis, [at+d0, at+d1] across it."""
    if axis == 0:
        return (a0, at + d0, z0), (a1, at + d1, z1)
    return (at + d0, a0, z0), (at + d1, a1, z1)


DOOR_JAMB = 0.05  # m: width of the door frame's jambs
DOOR_CASING = HALF_WALL + 0.01  # m from the wall centre line: the casing stands 1 cm proud


def _swing_sign(door: DoorPlan, plan: FloorPlan) -> float:
    """+1 when the swing room lies on the + side of the door's wall, else -1."""
    sw = plan.rooms[door.swing].rect
    centre = (sw[1] + sw[3]) / 2 if door.axis == 0 else (sw[0] + sw[2]) / 2
    return 1.0 if centre > door.at else -1.0


def door_leaf_box(door: DoorPlan, plan: FloorPlan) -> tuple[tuple, tuple]:
    """World box of the open door leaf: 4 cm thick, against the hinge jamb, standing at 90 degrees in
    the swing room (the placer keeps it as an obstacle when it checks that the room stays walkable)."""
    sgn = _swing_sign(door, plan)
    leaf_w = door.a1 - door.a0 - 2 * DOOR_JAMB
    d0, d1 = sorted((sgn * DOOR_CASING, sgn * (DOOR_CASING + leaf_w)))
    a = door.a0 + DOOR_JAMB
    return _along(door.axis, door.at, a, a + 0.04, d0, d1, 0.01, 2.0)


def door_piece(door: DoorPlan, plan: FloorPlan, rng: np.random.Generator) -> Piece:
    """Frame (two jambs and a head) across both half walls, and the leaf standing open at 90 deg
    in the ``swing`` room against the hinge jamb, so the passage stays clear."""
    ax, at, a0, a1 = door.axis, door.at, door.a0, door.a1
    depth, j = DOOR_CASING, DOOR_JAMB
    frame_col = (245, 245, 240)
    parts = [
        box(*_along(ax, at, a0, a0 + j, -depth, depth, 0.0, 2.05), MAT["wood"], frame_col, 0.8),
        box(*_along(ax, at, a1 - j, a1, -depth, depth, 0.0, 2.05), MAT["wood"], frame_col, 0.8),
        box(*_along(ax, at, a0 + j, a1 - j, -depth, depth, 2.0, 2.05), MAT["wood"], frame_col, 0.8),
    ]
    (lo, hi), sgn = door_leaf_box(door, plan), _swing_sign(door, plan)
    leaf_w = a1 - a0 - 2 * j
    leaf_col = tuple(int(c) for c in rng.integers(150, 256, 3))
    t = 0.04
    parts.append(box(lo, hi, MAT["wood"], leaf_col, 0.8))
    hd0, hd1 = sorted((sgn * (depth + leaf_w - 0.12), sgn * (depth + leaf_w - 0.08)))
    parts.append(box(*_along(ax, at, a0 + j + t, a0 + j + t + 0.06, hd0, hd1, 0.98, 1.02), MAT["metal"], (200, 200, 205)))
    return Piece("door", concat(parts), f"door {door.rooms[0]}-{door.rooms[1]}")


def window_piece(room: RoomPlan, side: str, op: Opening) -> Piece:
    """Frame bars and a glass pane filling a window opening, inside the room's half wall."""
    x0, y0, x1, y1 = room.rect
    ax = 0 if side in ("S", "N") else 1
    at = {"S": y0, "N": y1, "W": x0, "E": x1}[side]
    sgn = 1.0 if side in ("S", "W") else -1.0  # into the room
    d0, d1 = sorted((0.0, sgn * HALF_WALL))
    g0, g1 = sorted((sgn * 0.03, sgn * 0.04))
    f, col = 0.05, (240, 240, 236)
    mid = (op.a0 + op.a1) / 2
    parts = [
        box(*_along(ax, at, op.a0, op.a1, d0, d1, op.z0, op.z0 + f), MAT["wood"], col, 0.8),
        box(*_along(ax, at, op.a0, op.a1, d0, d1, op.z1 - f, op.z1), MAT["wood"], col, 0.8),
        box(*_along(ax, at, op.a0, op.a0 + f, d0, d1, op.z0 + f, op.z1 - f), MAT["wood"], col, 0.8),
        box(*_along(ax, at, op.a1 - f, op.a1, d0, d1, op.z0 + f, op.z1 - f), MAT["wood"], col, 0.8),
        box(*_along(ax, at, mid - 0.02, mid + 0.02, d0, d1, op.z0 + f, op.z1 - f), MAT["wood"], col, 0.8),
        box(*_along(ax, at, op.a0 + f, op.a1 - f, g0, g1, op.z0 + f, op.z1 - f), MAT["glass"], (255, 255, 255), 2.0),
    ]
    return Piece("window", concat(parts), f"{room.kind} {room.index} window")


def building(rng: np.random.Generator, plan: FloorPlan) -> list[Piece]:
    """Every structural instance of the apartment: per-room shells, doors, windows."""
    pieces: list[Piece] = []
    for room in plan.rooms:
        pieces += room_shell(rng, room, plan.height)
    for door in plan.doors:
        pieces.append(door_piece(door, plan, rng))
    for room in plan.rooms:
        for side in ("S", "E", "N", "W"):
            pieces += [window_piece(room, side, op) for op in room.openings[side] if op.kind == "window"]
    return pieces
