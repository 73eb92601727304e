"""``generate_apartment(seed)``: a furnished, textured, labelled apartment as a ``Scene``.

The zero-download default space of tst (``scene=synth scene.seed=N``). Everything comes from one
``numpy`` generator seeded with ``seed``, so the same seed gives bit-identical arrays on every
machine, and different seeds give different floor plans, furniture and textures. Class ids come
from the shared ``SYNTH_CLASSES`` vocabulary, so id ``k`` means the same class in every seed.
"""

from __future__ import annotations

import numpy as np

from tst.envs.scene import Room, Scene
from tst.envs.synth.layout import FloorPlan, make_floor_plan
from tst.envs.synth.mesh import Part
from tst.envs.synth.rooms import furnish
from tst.envs.synth.structure import Piece, building, door_leaf_box
from tst.envs.synth.textures import Atlas
from tst.envs.vocabulary import SYNTH_CLASSES, synth_class_id

PLAN_TRIES = 8


def plan_apartment(seed: int = 0, num_rooms: int | None = None, clutter: float = 0.7
                   ) -> tuple[FloorPlan, list[Piece], Atlas]:
    """The floor plan, every instance as a world-frame ``Piece``, and the texture atlas."""
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"scene.seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= clutter <= 1.0:
        raise ValueError(f"scene.clutter is the chance a surface gets clutter, in [0, 1]; got {clutter}")
    rng = np.random.default_rng([int(seed), 2024])
    best = None
    for _ in range(PLAN_TRIES):  # a plan whose rooms cannot hold their essentials is drawn again
        plan = make_floor_plan(rng, num_rooms)
        pieces, missing = building(rng, plan), 0
        for room in plan.rooms:
            leaves = [door_leaf_box(d, plan) for d in plan.doors if d.swing == room.index]
            placed, miss = furnish(room, plan.height, rng, clutter, leaves)
            missing += miss
            pieces += [Piece(p.cls, p.part, f"{room.kind} {room.index} {p.cls} {k}") for k, p in enumerate(placed)]
        if best is None or missing < best[0]:
            best = (missing, plan, pieces)
        if missing == 0:
            break
    _, plan, pieces = best
    return plan, pieces, Atlas(int(seed))


def generate_apartment(seed: int = 0, num_rooms: int | None = None, clutter: float = 0.7) -> Scene:
    """A procedural apartment.

    seed: every seed is a different apartment; the same seed gives identical arrays.
    num_rooms: 1..8 rooms (default: 4 to 6, drawn from the seed). With >= 4 rooms there is always a
        living room, bedroom, kitchen and bathroom.
    clutter: chance that a free surface (table, shelf board, counter...) gets small objects.
    """
    plan, pieces, atlas = plan_apartment(seed, num_rooms, clutter)
    return pieces_to_scene(pieces, plan, atlas, f"synth-{int(seed):04d}",
                           f"procedural apartment, seed {int(seed)}, {len(plan.rooms)} rooms")


def pieces_to_scene(pieces: list[Piece], plan: FloorPlan, atlas: Atlas, scene_id: str, source: str) -> Scene:
    """Concatenate instances into the Scene arrays (instance i = pieces[i - 1])."""
    parts: list[Part] = [p.part for p in pieces]
    nv = np.cumsum([0] + [len(p.verts) for p in parts])
    faces = np.concatenate([p.faces + nv[i] for i, p in enumerate(parts)]).astype(np.int32)  # [F, 3]
    face_instance = np.concatenate([np.full(len(p.faces), i + 1, np.int32) for i, p in enumerate(parts)])  # [F]
    uv = np.concatenate([p.uv for p in parts])  # [F, 3, 2] tile-local
    mat = np.concatenate([p.mat for p in parts])  # [F]
    rooms = []
    for r in plan.rooms:
        x0, y0, x1, y1 = r.inner
        poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)  # [4, 2] counter-clockwise
        rooms.append(Room(r.kind, poly, 0.0, float(plan.height)))
    return Scene(
        vertices=np.concatenate([p.verts for p in parts]).astype(np.float32),  # [V, 3]
        faces=faces,
        face_instance=face_instance,
        instance_class=np.array([0] + [synth_class_id(p.cls) for p in pieces], np.int32),  # [I + 1]
        class_names=list(SYNTH_CLASSES),
        vertex_colors=np.concatenate([p.tint for p in parts]).astype(np.uint8),  # [V, 3]
        corner_uv=atlas.atlas_uv(uv, mat),  # [F, 3, 2]
        texture=atlas.image,
        scene_id=scene_id,
        source=source,
        rooms=rooms,
        instance_names={i + 1: p.name for i, p in enumerate(pieces)},
    ).validate()
