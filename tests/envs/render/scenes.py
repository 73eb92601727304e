"""Analytic references for render tests: ray/box intersections computed independently of Open3D,
and a one-quad scene whose colours and texture are known everywhere."""

from __future__ import annotations

import numpy as np

from tests.envs.fixtures import make_box_room
from tst.envs.camera import Intrinsics
from tst.envs.scene import Scene

ROOM = (4.0, 3.0, 2.5)
TABLE_LO = np.array([1.5, 1.2, 0.0])
TABLE_HI = np.array([2.5, 1.8, 0.75])


def box_room() -> Scene:
    """The shared fixture room 4 x 3 x 2.5 m with the 1 x 0.6 x 0.75 table centred at (2, 1.5)."""
    return make_box_room(*ROOM, table_size=(1.0, 0.6, 0.75), table_center=(2.0, 1.5))


def world_rays(K: Intrinsics, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Origin [3] and world directions [H*W, 3] (camera z = 1) in float64, computed by the test."""
    u = np.arange(K.width) + 0.5
    v = np.arange(K.height) + 0.5
    uu, vv = np.meshgrid((u - K.cx) / K.fx, (v - K.cy) / K.fy)
    d_cam = np.stack([uu, vv, np.ones_like(uu)], -1).reshape(-1, 3)
    return T[:3, 3].copy(), d_cam @ T[:3, :3].T


def analytic_box_room(K: Intrinsics, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact z-depth [H, W] and instance id [H, W] of the box room seen from inside (slab method)."""
    o, d = world_rays(K, T)
    hi = np.array(ROOM)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_axes = np.where(d > 0, (hi - o) / d, np.where(d < 0, (0 - o) / d, np.inf))  # [N, 3] exit per axis
        t1 = (TABLE_LO - o) / d
        t2 = (TABLE_HI - o) / d
    axis = t_axes.argmin(1)
    t_room = t_axes.min(1)
    positive = np.take_along_axis(d, axis[:, None], 1)[:, 0] > 0
    # instance ids of the fixture: 1 floor, 2 ceiling, 3 wall x=0, 4 wall x=w, 5 wall y=0, 6 wall y=d
    inst = np.where(axis == 2, np.where(positive, 2, 1), np.where(axis == 0, np.where(positive, 4, 3),
                                                                     np.where(positive, 6, 5)))
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    hits_table = (t_near <= t_far) & (t_near > 0) & (t_near < t_room)
    depth = np.where(hits_table, t_near, t_room)
    inst = np.where(hits_table, 7, inst)
    return depth.reshape(K.height, K.width), inst.reshape(K.height, K.width)


QUAD_VERTICES = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 0]], dtype=np.float32)
QUAD_FACES = np.array([[4, 0, 1], [4, 1, 2], [4, 2, 3], [4, 3, 0]], dtype=np.int32)  # fan, normal +z


def quad_scene(colors: np.ndarray | None = None, texture: np.ndarray | None = None,
               labelled: bool = True) -> Scene:
    """The unit square x, y in [0, 1] at z = 0 as a fan of 4 triangles around its centre vertex 4.

    ``colors`` [5, 3] uint8 per vertex (corners (0,0) (1,0) (1,1) (0,1), then the centre);
    ``texture`` [h, w, 3] mapped with uv = (x, y), i.e. texel column floor(x w), row floor(y h).
    """
    corner_uv = QUAD_VERTICES[QUAD_FACES][:, :, :2].copy() if texture is not None else None  # [4, 3, 2]
    return Scene(
        vertices=QUAD_VERTICES.copy(), faces=QUAD_FACES.copy(),
        face_instance=np.full(4, 1 if labelled else 0, dtype=np.int32),
        instance_class=np.array([0, 1] if labelled else [0], dtype=np.int32),
        class_names=["unlabelled", "panel"] if labelled else ["unlabelled"],
        vertex_colors=colors, corner_uv=corner_uv, texture=texture, scene_id="quad",
    ).validate()


def quad_barycentric(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face index [N] and barycentric weights [N, 3] of points ``xy`` [N, 2] on the fan quad."""
    best_f = np.full(len(xy), -1)
    best_w = np.zeros((len(xy), 3))
    for fi, tri in enumerate(QUAD_FACES):
        a, b, c = QUAD_VERTICES[tri, :2].astype(np.float64)
        M = np.array([b - a, c - a]).T  # [2, 2]
        uv = np.linalg.solve(M, (xy - a).T).T  # [N, 2]
        w = np.stack([1 - uv.sum(1), uv[:, 0], uv[:, 1]], 1)
        inside = (w >= -1e-9).all(1) & (best_f < 0)
        best_f[inside], best_w[inside] = fi, w[inside]
    return best_f, best_w
