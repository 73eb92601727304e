"""Primitives: exact geometry, outward winding, texture cells that repeat every `scale` metres."""

import numpy as np

from tst.envs.synth.mesh import box, concat, lathe
from tst.envs.synth.textures import COLS, MATERIALS, TILE, Atlas


def _normals(p):
    t = p.verts[p.faces]  # [F, 3, 3]
    return np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])  # [F, 3], length = 2 * area


def test_box_is_closed_outward_and_exact():
    lo, hi = np.array([0.5, -1.0, 0.0]), np.array([1.7, 0.2, 0.45])
    for scale in (0.5, 10.0):  # subdivided and single-cell faces
        p = box(lo, hi, 3, (10, 20, 30), scale)
        assert np.array_equal(p.lo, lo) and np.array_equal(p.hi, hi)
        n = _normals(p)
        area = np.linalg.norm(n, axis=1).sum() / 2
        s = hi - lo
        assert np.isclose(area, 2 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2]))
        centre = (lo + hi) / 2
        mid = p.verts[p.faces].mean(1)
        assert (np.einsum("fk,fk->f", n, mid - centre) > 0).all()  # every face points away from the centre
        assert (p.mat == 3).all() and (p.tint == (10, 20, 30)).all()
        assert p.uv.min() >= 0 and p.uv.max() <= 1


def test_box_texture_repeats_every_scale_metres():
    p = box((0, 0, 0), (3.0, 0.1, 1.0), 0, scale=1.0, faces=((1, -1),))  # a 3 m x 1 m wall face
    assert len(p.faces) == 2 * 3  # three cells along x, one along z
    # u is the metres along x inside each cell: 0..1 three times
    u_of_x = {(round(float(x), 6), round(float(u), 6)) for f, uv in zip(p.faces, p.uv)
              for x, u in zip(p.verts[f][:, 0], uv[:, 0])}
    assert u_of_x == {(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (2.0, 1.0), (2.0, 0.0), (3.0, 1.0)}


def test_lathe_radius_and_winding():
    p = lathe([(0.3, 0.0), (0.1, 0.5)], 1, segments=16, center=(1.0, 2.0, 0.25))
    ring0 = p.verts[:16] - (1.0, 2.0, 0.25)
    assert np.allclose(np.hypot(ring0[:, 0], ring0[:, 1]), 0.3) and np.allclose(ring0[:, 2], 0)
    n = _normals(p)
    mid = p.verts[p.faces].mean(1) - (1.0, 2.0, 0.25 + 0.25)
    assert (np.einsum("fk,fk->f", n, mid) > 0).all()


def test_concat_rebases_faces():
    a, b = box((0, 0, 0), (1, 1, 1), 0), box((2, 0, 0), (3, 1, 1), 1)
    c = concat([a, b])
    assert np.array_equal(c.verts[c.faces[len(a.faces):]], b.verts[b.faces])


def test_atlas_white_texel_and_uv_mapping():
    atlas = Atlas(0)
    rows = -(-len(MATERIALS) // COLS)
    assert atlas.image.shape == (rows * TILE, COLS * TILE, 3) and (atlas.image[0, 0] == 255).all()
    # tile-local (0, 0) and (1, 1) of material 7 land half a texel inside its tile
    uv = atlas.atlas_uv(np.array([[[0, 0], [1, 1], [0.5, 0.5]]], np.float64), np.array([7]))[0]
    px = uv * [atlas.image.shape[1], atlas.image.shape[0]]
    r, c = divmod(7, COLS)
    assert np.allclose(px[0], [c * TILE + 0.5, r * TILE + 0.5]) and np.allclose(px[1], [(c + 1) * TILE - 0.5, (r + 1) * TILE - 0.5])
    assert not np.array_equal(Atlas(0).image, Atlas(1).image)  # paintings differ per seed
    assert np.array_equal(Atlas(2).image, Atlas(2).image)
