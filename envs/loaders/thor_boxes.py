"""Geometry for AI2-THOR proxy scenes: Unity -> z-up axis mapping, boxes from 8 corners, the room shell.

AI2-THOR is a Unity world: metres, **y up, left-handed** (x right, y up, z forward). Our scenes are
z-up right-handed metres. The mapping is a swap of the last two axes,

    ours = (x, y, z)_ours = (x_thor, z_thor, y_thor)

Swapping two axes flips handedness, which is exactly what turns Unity's left-handed frame into a
right-handed one *without mirroring the world*: seen from above, THOR's +x (right) and +z (forward)
become our +x (east) and +y (north), and THOR's up (+y) becomes our +z. A plain proper rotation such
as (x, -z, y) would look tidy but mirror every floor plan left-to-right.

THOR reports boxes as 8 ``cornerPoints`` whose order differs between the axis-aligned and the
oriented box (and is not documented), so ``box_mesh`` recovers the box's edges from the points
themselves and winds the 12 triangles so that normals point outwards, whatever the corner order.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

# Unity (x, y, z) -> ours: row i says which THOR axis becomes our axis i.
THOR_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

# Cube topology on corners indexed by bits (bit 0 -> edge e1, bit 1 -> e2, bit 2 -> e3). With a
# right-handed edge basis (e1 x e2 . e3 > 0) these quads are counter-clockwise seen from outside.
_CUBE_QUADS = np.array([
    [0, 2, 3, 1],  # e3 = 0 side (outward -e3)
    [4, 5, 7, 6],  # e3 = 1 side
    [0, 1, 5, 4],  # e2 = 0 side
    [2, 6, 7, 3],  # e2 = 1 side
    [0, 4, 6, 2],  # e1 = 0 side
    [1, 3, 7, 5],  # e1 = 1 side
])
CUBE_TRIANGLES = np.concatenate([_CUBE_QUADS[:, [0, 1, 2]], _CUBE_QUADS[:, [0, 2, 3]]])  # [12, 3]


def thor_to_zup(points: np.ndarray) -> np.ndarray:
    """[..., 3] THOR (Unity, y-up, left-handed) points -> [..., 3] z-up right-handed: (x, z, y)."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"THOR points must have 3 coordinates (x, y, z), got shape {p.shape}")
    return p[..., [0, 2, 1]]


def vec3(d: dict, what: str) -> np.ndarray:
    """A THOR {"x", "y", "z"} dict as a [3] array, naming the field when a key is missing."""
    try:
        return np.array([float(d["x"]), float(d["y"]), float(d["z"])])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{what} must be a dict with numeric x, y, z; got {d!r}") from e


def _edge_basis(corners: np.ndarray) -> np.ndarray:
    """Indices [8] of ``corners`` ordered by cube bits (see ``_CUBE_QUADS``), for any input order.

    From corner 0 the other seven are e1, e2, e3 and their sums; the three edges are the triple whose
    pairwise and triple sums reproduce the remaining four corners best. Tolerant to the float noise
    and near-degenerate (flat) boxes THOR reports.
    """
    d = corners[1:] - corners[0]  # [7, 3]
    best, best_err = None, np.inf
    for trip in combinations(range(7), 3):
        i, j, k = trip
        rest = [m for m in range(7) if m not in trip]
        sums = np.stack([d[i] + d[j], d[i] + d[k], d[j] + d[k], d[i] + d[j] + d[k]])
        # each predicted sum must match a distinct remaining corner
        cost = np.linalg.norm(sums[:, None, :] - d[rest][None, :, :], axis=-1)  # [4, 4]
        rows, match = linear_sum_assignment(cost)  # distinct corners even when a flat box repeats some
        err = float(cost[rows, match].max())
        if err < best_err:
            best, best_err = (trip, [rest[m] for m in match]), err
    if best is None:
        raise ValueError("box corners do not form a parallelepiped")
    (i, j, k), (ij, ik, jk, ijk) = best
    return np.array([0, i, j, ij, k, ik, jk, ijk]) + (np.arange(8) > 0)  # d[m] is corners[m + 1]


def box_mesh(corners: np.ndarray, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """8 box corners (z-up frame, any order) -> (vertices [8, 3] float64, faces [12, 3] int32).

    The vertices are the given corners, reordered, so positions are exact; faces wind outwards.
    """
    c = np.asarray(corners, dtype=np.float64)
    if c.shape != (8, 3):
        raise ValueError(f"a box needs 8 corner points of 3 coordinates, got shape {c.shape}")
    order = _edge_basis(c)
    v = c[order]
    e1, e2, e3 = v[1] - v[0], v[2] - v[0], v[4] - v[0]
    scale = max(np.linalg.norm(e1), np.linalg.norm(e2), np.linalg.norm(e3), 1e-9)
    if np.dot(np.cross(e1, e2), e3) < 0:  # left-handed basis: swap e2 and e3 to make it right-handed
        v = v[[0, 1, 4, 5, 2, 3, 6, 7]]
    err = np.linalg.norm(v[7] - (v[1] + v[2] + v[4] - 2 * v[0]))
    if err > tol * scale + 1e-6:
        raise ValueError(f"box corners do not form a parallelepiped (corner mismatch {err:.3g} m)")
    return v, CUBE_TRIANGLES.astype(np.int32)


def aabb_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """[8, 3] corners of the axis-aligned box [lo, hi] in cube-bit order."""
    bits = np.array([[(b >> 0) & 1, (b >> 1) & 1, (b >> 2) & 1] for b in range(8)], dtype=np.float64)
    return lo + bits * (hi - lo)


def shell_quads(lo: np.ndarray, hi: np.ndarray) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """The inward-facing room shell of the box [lo, hi]: (class, instance name, vertices [4, 3],
    faces [2, 3]) for the floor, the ceiling and the four walls, normals pointing into the room."""
    v = aabb_corners(lo, hi)
    names = [("floor", "floor"), ("ceiling", "ceiling"), ("wall", "wall_ymin"), ("wall", "wall_ymax"),
             ("wall", "wall_xmin"), ("wall", "wall_xmax")]
    out = []
    for (cls, inst), quad in zip(names, _CUBE_QUADS):
        inward = quad[::-1]  # reversing the winding flips the outward normal inwards
        out.append((cls, inst, v[inward], np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)))
    return out


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[F, 3] unnormalised right-hand-rule normals (b - a) x (c - a)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return np.cross(b - a, c - a)
