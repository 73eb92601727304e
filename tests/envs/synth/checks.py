"""Geometry checks on a generated Scene, computed from its triangles only (not from the generator's
internal bookkeeping), so that a bug in the placer cannot hide itself."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, label

from tst.envs.scene import Scene
from tst.envs.vocabulary import STRUCTURE_CLASSES


def instance_boxes(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """[I + 1, 3] min and max corner of every instance (row 0 unused)."""
    n = len(scene.instance_class)
    tri = scene.vertices[scene.faces]  # [F, 3, 3]
    lo = np.full((n, 3), np.inf, np.float32)
    hi = np.full((n, 3), -np.inf, np.float32)
    np.minimum.at(lo, scene.face_instance, tri.min(1))
    np.maximum.at(hi, scene.face_instance, tri.max(1))
    return lo, hi


def object_ids(scene: Scene) -> list[int]:
    """Instances that are contents (furniture, clutter), not building."""
    skip = {scene.class_id(c) for c in STRUCTURE_CLASSES}
    return [i for i in range(1, len(scene.instance_class)) if int(scene.instance_class[i]) not in skip]


def intersections(scene: Scene, eps: float = 1e-4) -> list[tuple[str, str]]:
    """Pairs (object, other instance) where a triangle of the other instance enters the object's box.

    The test is conservative: a triangle counts when its own bounding box overlaps the object's box
    shrunk by ``eps`` (touching is allowed: a cup may stand on a table, a sofa against a wall).
    """
    lo, hi = instance_boxes(scene)
    tri = scene.vertices[scene.faces]  # [F, 3, 3]
    tlo, thi = tri.min(1), tri.max(1)  # [F, 3]
    names = scene.instance_names
    # what stands on i lies inside i's box by design (books on a shelf): that pair is checked the
    # other way round, the book's box against the shelf's triangles
    carried: dict[int, set[int]] = {}
    for k in object_ids(scene):
        if lo[k, 2] > 0:
            carried.setdefault(support_of(scene, k) or 0, set()).add(k)
    bad = []
    for i in object_ids(scene):
        blo, bhi = lo[i] + eps, hi[i] - eps
        hit = np.all(tlo < bhi, 1) & np.all(thi > blo, 1) & (scene.face_instance != i)
        hit &= ~np.isin(scene.face_instance, list(carried.get(i, ())))
        for j in np.unique(scene.face_instance[hit]):
            bad.append((names.get(i, str(i)), names.get(int(j), str(j))))
    return bad


def support_of(scene: Scene, i: int) -> int | None:
    """The instance whose upward-facing triangles at exactly instance i's bottom height cover its
    footprint (0 for the floor plane z = 0 of a room), or None."""
    lo, hi = instance_boxes(scene)
    z = lo[i, 2]
    tri = scene.vertices[scene.faces]  # [F, 3, 3]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # [F, 3]
    up = (n[:, 2] > 0) & (np.abs(n[:, :2]).max(1) < 1e-6 * np.abs(n[:, 2]).clip(1e-12)) & np.all(tri[:, :, 2] == z, 1)
    up &= scene.face_instance != i
    for j in np.unique(scene.face_instance[up]):
        sel = up & (scene.face_instance == j)
        xy = tri[sel][:, :, :2].reshape(-1, 2)
        if np.all(xy.min(0) <= lo[i, :2]) and np.all(xy.max(0) >= hi[i, :2]):
            return int(j)
    return None


def walk_grid(scene: Scene, cell: float = 0.05, body: float = 0.2, z_range=(0.1, 1.8)
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Free floor cells for a walker of radius ``body``: every triangle (except floor, ceiling and
    rugs) whose z-extent meets ``z_range`` blocks the cells its footprint touches; obstacles are
    grown by the body radius. Returns (free [NX, NY] bool, cell centres x [NX], y [NY])."""
    lo, hi = scene.bounds
    nx, ny = (np.ceil((hi[:2] - lo[:2]) / cell)).astype(int) + 1
    cx = lo[0] + (np.arange(nx) + 0.5) * cell
    cy = lo[1] + (np.arange(ny) + 0.5) * cell
    blocked = np.zeros((nx, ny), bool)
    walk = {scene.class_id(c) for c in ("floor", "ceiling", "rug")}
    keep = ~np.isin(scene.face_class, list(walk))
    tri = scene.vertices[scene.faces[keep]]  # [T, 3, 3]
    tlo, thi = tri.min(1), tri.max(1)
    meets = (tlo[:, 2] < z_range[1]) & (thi[:, 2] > z_range[0])
    i0 = np.floor((tlo[meets, 0] - lo[0]) / cell).astype(int)
    i1 = np.floor((thi[meets, 0] - lo[0]) / cell).astype(int)
    j0 = np.floor((tlo[meets, 1] - lo[1]) / cell).astype(int)
    j1 = np.floor((thi[meets, 1] - lo[1]) / cell).astype(int)
    for a, b, c, d in zip(i0, i1, j0, j1):
        blocked[a:b + 1, c:d + 1] = True
    r = int(np.ceil(body / cell))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = (xx * xx + yy * yy) <= r * r
    return ~binary_dilation(blocked, disk), cx, cy


def room_components(scene: Scene, **kw) -> tuple[list[set[int]], np.ndarray, list[np.ndarray]]:
    """Connected free-space components met by each room: (labels per room, label image, room masks)."""
    free, cx, cy = walk_grid(scene, **kw)
    lab, _ = label(free)
    per_room, masks = [], []
    for room in scene.rooms:
        (x0, y0), (x1, y1) = room.polygon.min(0), room.polygon.max(0)
        m = (cx[:, None] > x0) & (cx[:, None] < x1) & (cy[None, :] > y0) & (cy[None, :] < y1)
        masks.append(m)
        per_room.append({int(v) for v in np.unique(lab[m]) if v > 0})
    return per_room, lab, masks
