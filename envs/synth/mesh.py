"""Composable primitives for the procedural apartment: boxes and surfaces of revolution.

Every object of the generator is a handful of these parts. A ``Part`` carries, per face, the
material it is textured with and *tile-local* UVs in [0, 1] (the atlas position is applied once
at the end, see ``textures.Atlas``), and per vertex a colour tint that multiplies the texture, so
one wood tile gives oak, walnut and painted white furniture.

Texture scale is physical: a material tile covers ``scale`` metres, and box faces larger than
that are subdivided so the texture repeats instead of stretching (tiles stay square on a 5 m
wall). Faces are wound counter-clockwise seen from outside, so triangle normals point outwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# For a box face with outward normal along (axis, sign): the two in-plane axes (a, b) such that
# a x b = outward normal, which makes the quad (p00, p10, p11, p01) counter-clockwise from outside.
_FACE_AXES = {(0, 1): (1, 2), (0, -1): (2, 1), (1, 1): (2, 0), (1, -1): (0, 2), (2, 1): (0, 1), (2, -1): (1, 0)}
ALL_FACES = tuple(_FACE_AXES)
_TRIS = np.array([[0, 1, 2], [0, 2, 3]])  # a quad's two triangles
_CORNER = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)  # quad corner -> (max along a?, max along b?)


def _one_cell_template():
    """For the 6 faces of a box: which corner (lo = 0 / hi = 1 per axis) each quad corner is, and
    the texture axes (u axis, v axis, v flipped) of the face."""
    bits, tex = [], []
    for axis, sign in ALL_FACES:
        a, b = _FACE_AXES[(axis, sign)]
        for ca, cb in _CORNER.astype(int):
            c = [0, 0, 0]
            c[a], c[b], c[axis] = ca, cb, int(sign > 0)
            bits.append(c)
        tex.append((0, 1, False) if axis == 2 else ((1 if axis == 0 else 0), 2, True))
    return np.array(bits, bool), tex


def _edges(lo: float, hi: float, scale: float) -> np.ndarray:
    """Cell boundaries along [lo, hi]: a new cell every ``scale`` metres, the last one shorter."""
    n = max(1, int(np.ceil((hi - lo) / scale - 1e-9)))
    e = lo + scale * np.arange(n + 1, dtype=np.float64)
    e[-1] = hi
    return e


@dataclass
class Part:
    """A piece of triangle mesh in some local frame (metres)."""

    verts: np.ndarray  # [V, 3] float64
    faces: np.ndarray  # [F, 3] int64
    uv: np.ndarray  # [F, 3, 2] float64 tile-local UVs in [0, 1]
    mat: np.ndarray  # [F] int64 material index (textures.MATERIALS order)
    tint: np.ndarray  # [V, 3] uint8 colour multiplied with the texture

    @property
    def lo(self) -> np.ndarray:
        return self.verts.min(0)

    @property
    def hi(self) -> np.ndarray:
        return self.verts.max(0)

    def moved(self, rot_k: int = 0, offset=(0.0, 0.0, 0.0)) -> Part:
        """Rotate by ``rot_k`` quarter turns about +z, then translate. Quarter turns use an exact
        integer matrix, so axis-aligned boxes stay exactly axis-aligned and z is untouched."""
        c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][rot_k % 4]
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)
        return Part(self.verts @ rot.T + np.asarray(offset, np.float64), self.faces, self.uv, self.mat, self.tint)


def concat(parts: list[Part]) -> Part:
    """One Part from many (face indices re-based)."""
    if not parts:
        raise ValueError("concat needs at least one part")
    starts = np.cumsum([0] + [len(p.verts) for p in parts[:-1]])
    return Part(
        np.concatenate([p.verts for p in parts]),
        np.concatenate([p.faces + s for p, s in zip(parts, starts)]),
        np.concatenate([p.uv for p in parts]),
        np.concatenate([p.mat for p in parts]),
        np.concatenate([p.tint for p in parts]),
    )


def _tint(color, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, np.uint8), (n, 3)).copy()


_BITS, _TEX = _one_cell_template()
_BOX_TRIS = (np.arange(6)[:, None, None] * 4 + _TRIS[None]).reshape(-1, 3)  # [12, 3]


def box(lo, hi, mat: int, color=(255, 255, 255), scale: float = 1.0, faces=ALL_FACES) -> Part:
    """Axis-aligned box [lo, hi] (or a subset of its faces: ``faces`` as (axis, sign) pairs).

    UVs: horizontal faces map x -> u, y -> v; vertical faces map their horizontal axis -> u and
    height -> v (top of the tile up), so stripes and wood grain run the same way on every wall.
    """
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if np.any(hi < lo):
        raise ValueError(f"box: hi {hi} < lo {lo}")
    size = hi - lo
    if faces == ALL_FACES and np.all(size <= scale + 1e-9):  # every face is one texture cell
        v = np.where(_BITS, hi, lo)  # [24, 3]
        uv = np.empty((24, 2))
        for f, (tu, tv, flip) in enumerate(_TEX):
            c = _BITS[4 * f:4 * f + 4]
            uv[4 * f:4 * f + 4, 0] = c[:, tu] * size[tu] / scale
            uv[4 * f:4 * f + 4, 1] = ((~c[:, tv]) if flip else c[:, tv]) * size[tv] / scale
        f = _BOX_TRIS
        return Part(v, f, np.clip(uv[f], 0.0, 1.0), np.full(12, mat, np.int64), _tint(color, 24))
    verts, tris, uvs = [], [], []
    nv = 0
    for axis, sign in faces:
        a, b = _FACE_AXES[(axis, sign)]
        ea, eb = _edges(lo[a], hi[a], scale), _edges(lo[b], hi[b], scale)
        na, nb = len(ea), len(eb)
        grid = np.empty((na, nb, 3))
        grid[..., a], grid[..., b] = ea[:, None], eb[None, :]
        grid[..., axis] = hi[axis] if sign > 0 else lo[axis]
        idx = np.arange(na * nb).reshape(na, nb) + nv
        i, j = np.arange(na - 1).repeat(nb - 1), np.tile(np.arange(nb - 1), na - 1)  # [Q] cells
        q = np.stack([idx[i, j], idx[i + 1, j], idx[i + 1, j + 1], idx[i, j + 1]], -1)  # [Q, 4] CCW
        # per-corner UV: offset from the cell's min corner / scale, along the texture axes
        size = np.stack([ea[i + 1] - ea[i], eb[j + 1] - eb[j]], 1)  # [Q, 2]
        rel = _CORNER[None] * size[:, None] / scale  # [Q, 4, 2]
        if axis == 2:  # horizontal face: u = x, v = y whatever the winding order of (a, b)
            uv = rel if a == 0 else rel[..., ::-1]
        else:  # vertical face: u = horizontal axis, v = down from the top of the cell
            horiz = 0 if a != 2 else 1
            vert = 1 - horiz
            uv = np.stack([rel[..., horiz], size[:, None, vert] / scale - rel[..., vert]], -1)
        verts.append(grid.reshape(-1, 3))
        tris.append(q[:, _TRIS].reshape(-1, 3))
        uvs.append(uv[:, _TRIS].reshape(-1, 3, 2))
        nv += na * nb
    v = np.concatenate(verts)
    f = np.concatenate(tris)
    return Part(v, f, np.clip(np.concatenate(uvs), 0.0, 1.0), np.full(len(f), mat, np.int64), _tint(color, len(v)))


def lathe(profile, mat: int, color=(255, 255, 255), segments: int = 12, center=(0.0, 0.0, 0.0),
          caps: bool = True) -> Part:
    """Surface of revolution about the vertical axis through ``center``.

    ``profile`` is [(radius, z), ...] from bottom to top, radii > 0; the ends are closed with flat
    caps. Cylinders, cones, cups, vases, lamp shades and plant foliage are all lathes.
    """
    prof = np.asarray(profile, np.float64)  # [K, 2]
    if prof.ndim != 2 or prof.shape[1] != 2 or len(prof) < 2 or (prof[:, 0] <= 0).any():
        raise ValueError(f"lathe profile must be >= 2 (radius > 0, z) rows, got {prof.tolist()}")
    k, n = len(prof), segments
    th = 2 * np.pi * np.arange(n) / n
    ring = np.stack([np.cos(th), np.sin(th)], 1)  # [n, 2]
    v = np.zeros((k, n, 3))
    v[..., :2] = prof[:, None, :1] * ring[None]
    v[..., 2] = prof[:, None, 1]
    v = v.reshape(-1, 3) + np.asarray(center, np.float64)
    arc = np.concatenate([[0], np.cumsum(np.hypot(np.diff(prof[:, 0]), np.diff(prof[:, 1])))])
    vv = 1 - arc / max(arc[-1], 1e-9)  # [K] v runs down the tile from top to bottom
    r, j = np.meshgrid(np.arange(k - 1), np.arange(n), indexing="ij")
    r, j = r.ravel(), j.ravel()
    jn = (j + 1) % n
    a, b, c, d = r * n + j, r * n + jn, (r + 1) * n + jn, (r + 1) * n + j
    faces = [np.stack([a, b, c], 1), np.stack([a, c, d], 1)]
    u0, u1 = j / n, (j + 1) / n
    uva = np.stack([u0, vv[r]], 1)
    uvb = np.stack([u1, vv[r]], 1)
    uvc = np.stack([u1, vv[r + 1]], 1)
    uvd = np.stack([u0, vv[r + 1]], 1)
    uvs = [np.stack([uva, uvb, uvc], 1), np.stack([uva, uvc, uvd], 1)]
    if caps:
        cen = len(v)
        v = np.concatenate([v, [np.asarray(center) + (0, 0, prof[0, 1])], [np.asarray(center) + (0, 0, prof[-1, 1])]])
        jj = np.arange(n)
        faces.append(np.stack([np.full(n, cen), (jj + 1) % n, jj], 1))  # bottom, facing -z
        top = (k - 1) * n
        faces.append(np.stack([np.full(n, cen + 1), top + jj, top + (jj + 1) % n], 1))  # top, facing +z
        disc = 0.5 + 0.5 * ring  # [n, 2] planar UVs of the rim
        mid = np.full((n, 2), 0.5)
        uvs.append(np.stack([mid, disc[(jj + 1) % n], disc[jj]], 1))
        uvs.append(np.stack([mid, disc[jj], disc[(jj + 1) % n]], 1))
    f = np.concatenate(faces)
    return Part(v, f, np.clip(np.concatenate(uvs), 0.0, 1.0), np.full(len(f), mat, np.int64), _tint(color, len(v)))


def cylinder(radius: float, z0: float, z1: float, mat: int, color=(255, 255, 255), segments: int = 12,
             center=(0.0, 0.0)) -> Part:
    return lathe([(radius, z0), (radius, z1)], mat, color, segments, (center[0], center[1], 0.0))
