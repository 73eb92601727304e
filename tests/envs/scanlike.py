"""A scan-like fixture built from a procedural apartment: what real reconstructions look like.

Real scans (ScanNet, ScanNet++) have no ceiling, holes in floor and walls, a floor with a few cm of
noise, an arbitrary yaw, vertex colours only (no texture), labels on vertices through segments, and
dataset spellings of the classes. ``scan_like`` applies all of that to ``generate_apartment`` and keeps
the truth (face classes in canonical names, the rotated room outlines) for the tests to compare with.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import trimesh

from tst.envs.scene import Room, Scene
from tst.envs.synth.generator import generate_apartment

YAW_DEG = 25.0
NOISE = 0.03  # m, floor vertex noise (uniform +-)
# canonical class -> a scan's spelling of it (resolved back through tst.envs.vocabulary.SYNONYMS)
SCAN_SPELLING = {"sofa": "couch", "tv": "television", "fridge": "refrigerator", "picture": "painting",
                 "plant": "potted plant", "rug": "carpet", "shelf": "bookshelf", "nightstand": "night stand",
                 "bathtub": "tub", "wardrobe": "closet", "chair": "armchair", "counter": "kitchen counter"}


def scan_like(seed: int = 0, num_rooms: int = 4) -> tuple[Scene, dict]:
    """(the scan-like Scene with scan spellings, truth: {"canonical": [C] canonical name per class id,
    "rooms": rotated room outlines, "yaw_deg", "holes_floor", "holes_wall"})."""
    apt = generate_apartment(seed=seed, num_rooms=num_rooms, clutter=0.0)
    rng = np.random.default_rng(seed + 77)
    v = apt.vertices.astype(np.float64)
    colors = apt.vertex_colors if apt.vertex_colors is not None else np.full((len(v), 3), 200, np.uint8)
    cls = apt.face_class
    ceiling, floor = apt.class_id("ceiling"), apt.class_id("floor")
    keep = cls != ceiling
    # the floor, finely subdivided so that it can carry noise and holes
    fl = keep & (cls == floor)
    fv, ff, src = trimesh.remesh.subdivide_to_size(v, apt.faces[fl], max_edge=0.15, return_index=True)
    f_inst = apt.face_instance[fl][src]
    f_col = np.zeros((len(fv), 3), np.uint8)
    f_col[ff.reshape(-1)] = colors[apt.faces[fl][src].reshape(-1)]
    fv[:, 2] += rng.uniform(-NOISE, NOISE, size=len(fv))
    # holes: floor discs of 0.2 m radius, wall triangles near points 1.2 m up on the walls
    cent = fv[ff].mean(1)
    holes_floor = [apt.rooms[i % len(apt.rooms)] for i in range(3)]
    hole_xy = np.array([np.asarray(r.polygon, np.float64).mean(0) + rng.uniform(-0.5, 0.5, 2) for r in holes_floor])
    in_hole = (np.linalg.norm(cent[:, None, :2] - hole_xy[None], axis=2) < 0.2).any(1)
    ff, f_inst = ff[~in_hole], f_inst[~in_hole]
    wall = keep & (cls == apt.class_id("wall"))
    wc = v[apt.faces].mean(1)  # [F, 3]
    mid = (wc[:, 2] > 0.8) & (wc[:, 2] < 1.6) & wall
    hole_wall = wc[rng.choice(np.flatnonzero(mid), size=4, replace=False)]
    cut = wall & (np.linalg.norm(wc[:, None] - hole_wall[None], axis=2) < 0.45).any(1)
    rest = keep & ~fl & ~cut
    verts = np.concatenate([v, fv])
    faces = np.concatenate([apt.faces[rest], ff + len(v)]).astype(np.int32)
    inst = np.concatenate([apt.face_instance[rest], f_inst]).astype(np.int32)
    col = np.concatenate([colors, f_col])
    used, new_faces = np.unique(faces, return_inverse=True)  # drop vertices no face uses
    verts, col, faces = verts[used], col[used], new_faces.reshape(-1, 3).astype(np.int32)
    # rotate about the vertical through the centre
    a = np.radians(YAW_DEG)
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    c = np.r_[apt.bounds.mean(0)[:2], 0.0]
    verts = (verts - c) @ R.T + c
    rooms = [Room(r.name, ((np.asarray(r.polygon, np.float64) - c[:2]) @ R[:2, :2].T + c[:2]).astype(np.float32),
                  r.floor_z, r.ceiling_z) for r in apt.rooms]
    names = [SCAN_SPELLING.get(n, n) for n in apt.class_names]
    scene = dataclasses.replace(apt, vertices=verts.astype(np.float32), faces=faces, face_instance=inst,
                                class_names=names, vertex_colors=col, corner_uv=None, texture=None, rooms=[],
                                scene_id=f"scanlike{seed}", source=f"scan-like fixture of synth seed {seed}")
    truth = {"canonical": list(apt.class_names), "rooms": rooms, "yaw_deg": YAW_DEG, "holes_floor": hole_xy,
             "holes_wall": hole_wall}
    return scene.validate(), truth
