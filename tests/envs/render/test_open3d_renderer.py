"""The Open3D renderer against geometry computed by hand: exact depth, labels, normals and colours."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.envs.render.scenes import (
    QUAD_FACES,
    QUAD_VERTICES,
    analytic_box_room,
    box_room,
    quad_barycentric,
    quad_scene,
    world_rays,
)
from tst.envs.camera import Intrinsics, look_at
from tst.envs.render.open3d_renderer import Open3DRenderer

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def room_renderer():
    return Open3DRenderer(box_room(), threads=1)


def test_depth_of_wall_straight_ahead_is_its_distance(room_renderer):
    # camera 3 m from the wall x = 4, level; the 40-degree view sees only that wall (and no table)
    K = Intrinsics.from_fov(64, 48, 40.0)
    T = look_at(np.array([1.0, 1.5, 1.5]), np.array([4.0, 1.5, 1.5]))
    out = room_renderer.render(K, T)
    assert out["valid"].all()
    np.testing.assert_allclose(out["depth"], 3.0, atol=1e-5)
    assert (out["semseg"] == 3).all() and (out["instance"] == 4).all()  # wall class, wall x=w instance
    np.testing.assert_allclose(out["normal"], np.broadcast_to([0, 0, -1], (48, 64, 3)), atol=1e-6)
    assert out["rgb"].dtype == np.uint8 and out["depth"].dtype == np.float32
    assert out["semseg"].dtype == np.uint16 and out["instance"].dtype == np.uint16


def test_oblique_view_matches_analytic_depth_and_silhouettes(room_renderer):
    # looking down past the table into a corner: floor, two walls, ceiling edge and the table
    K = Intrinsics(fx=70.0, fy=75.0, cx=61.0, cy=47.5, width=128, height=96)
    T = look_at(np.array([0.6, 0.5, 1.7]), np.array([2.4, 1.9, 0.5]))
    out = room_renderer.render(K, T)
    depth, inst = analytic_box_room(K, T)
    assert out["valid"].all()
    assert set(np.unique(inst)) >= {1, 4, 6, 7}  # the view really contains floor, walls and table
    close = np.abs(out["depth"] - depth) <= 1e-4 * depth
    same = out["instance"] == inst
    # only pixels whose ray grazes an edge exactly may disagree
    assert close.mean() > 0.999 and same.mean() > 0.999, (close.mean(), same.mean())
    # semantic labels are the instance's class everywhere
    np.testing.assert_array_equal(out["semseg"], room_renderer.scene.instance_class[out["instance"]])
    # the table silhouette is exactly where analytic rays hit the table box
    table = out["instance"] == 7
    assert 300 < table.sum() and (table == (inst == 7)).mean() > 0.999


def test_normals_agree_with_finite_differences_of_backprojected_depth(room_renderer):
    K = Intrinsics(fx=70.0, fy=75.0, cx=61.0, cy=47.5, width=128, height=96)
    T = look_at(np.array([0.6, 0.5, 1.7]), np.array([2.4, 1.9, 0.5]))
    out = room_renderer.render(K, T)
    P = out["depth"][..., None] * K.pixel_rays()  # [H, W, 3] camera-frame points
    du = P[1:-1, 2:] - P[1:-1, :-2]
    dv = P[2:, 1:-1] - P[:-2, 1:-1]
    fd = np.cross(dv, du)  # x right, y down: x × y = z points away, so dv × du faces the camera
    fd /= np.linalg.norm(fd, axis=-1, keepdims=True)
    # the fixture's quads are consecutive triangle pairs: primitive // 2 names one planar quad
    inst = (room_renderer.cast_rays(room_renderer.make_rays(K, T))["primitive_ids"] // 2).reshape(96, 128)
    planar = np.ones_like(inst[1:-1, 1:-1], dtype=bool)  # the 3x3 neighbourhood is one plane
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            planar &= inst[1 + dy:inst.shape[0] - 1 + dy, 1 + dx:inst.shape[1] - 1 + dx] == inst[1:-1, 1:-1]
    n = out["normal"][1:-1, 1:-1]
    assert planar.mean() > 0.8
    cos = (n * fd).sum(-1)[planar]
    assert cos.min() > 0.9999, cos.min()
    np.testing.assert_allclose(np.linalg.norm(out["normal"], axis=-1), 1.0, atol=1e-5)
    assert ((out["normal"] * K.pixel_rays()).sum(-1) < 0).all()  # every normal faces the camera


def _quad_camera(height: float, size: int = 9, hfov: float = 60.0):
    K = Intrinsics.from_fov(size, size, hfov)
    T = look_at(np.array([0.5, 0.5, height]), np.array([0.5, 0.5, 0.0]))  # image right = +x, down = -y
    o, d = world_rays(K, T)
    xy = (o + d * height)[:, :2]  # [N, 2] where each pixel's ray meets z = 0
    return K, T, xy, d


def test_vertex_colours_interpolate_exactly_and_shade_with_the_headlight():
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [250, 250, 0], [10, 120, 230]], np.uint8)
    K, T, xy, d = _quad_camera(0.8)
    flat = Open3DRenderer(quad_scene(colors), ambient=1.0).render(K, T)["rgb"].reshape(-1, 3)
    assert (flat[K.width * (K.height // 2) + K.width // 2] == colors[4]).all()  # centre pixel hits vertex 4
    f, w = quad_barycentric(xy)
    expected = np.einsum("nk,nkc->nc", w, colors[QUAD_FACES[f]].astype(np.float64))
    assert np.abs(flat - expected).max() <= 1.0
    # headlight: colour x (ambient + (1 - ambient) |cos(normal, ray)|)
    shaded = Open3DRenderer(quad_scene(colors), ambient=0.3).render(K, T)["rgb"].reshape(-1, 3)
    cos = np.abs(d[:, 2]) / np.linalg.norm(d, axis=1)
    assert cos.min() < 0.9  # the corners really are oblique
    assert np.abs(shaded - expected * (0.3 + 0.7 * cos)[:, None]).max() <= 1.0


def test_texture_texel_is_sampled_at_the_interpolated_uv():
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    white = np.full((len(QUAD_VERTICES), 3), 255, np.uint8)
    K, T, xy, _ = _quad_camera(0.8, size=33)
    rgb = Open3DRenderer(quad_scene(white, tex), ambient=1.0).render(K, T)["rgb"].reshape(-1, 3)
    col, row = np.floor(xy[:, 0] * 4).astype(int), np.floor(xy[:, 1] * 4).astype(int)
    away = (np.abs(xy * 4 - np.round(xy * 4)) > 0.02).all(1)  # not on a texel border
    assert away.sum() > 500
    np.testing.assert_array_equal(rgb[away], tex[row[away], col[away]])


def test_background_and_unlabelled_scene():
    K, T, xy, _ = _quad_camera(2.0, size=16)
    out = Open3DRenderer(quad_scene(labelled=False)).render(K, T)
    on_quad = ((xy > 1e-3) & (xy < 1 - 1e-3)).all(1).reshape(16, 16)
    off_quad = ((xy < -1e-3) | (xy > 1 + 1e-3)).any(1).reshape(16, 16)
    assert on_quad.sum() > 20 and off_quad.sum() > 20
    assert out["valid"][on_quad].all() and not out["valid"][off_quad].any()
    assert (out["semseg"] == 0).all() and (out["instance"] == 0).all()
    np.testing.assert_allclose(out["depth"][on_quad], 2.0, atol=1e-5)
    assert (out["depth"][off_quad] == 0).all() and (out["rgb"][off_quad] == 0).all()
    assert (out["normal"][off_quad] == 0).all()
    assert (out["rgb"][on_quad] > 0).all()  # default grey, lit


def test_modality_subset_raw_cast_and_bad_input(room_renderer):
    K = Intrinsics.from_fov(32, 24, 70.0)
    T = look_at(np.array([0.5, 0.5, 1.5]), np.array([3.0, 2.0, 0.3]))
    out = room_renderer.render(K, T, modalities=("depth",))
    assert set(out) == {"depth", "valid"}
    raw = room_renderer.cast_rays(room_renderer.make_rays(K, T))
    assert isinstance(raw["t_hit"], np.ndarray) and raw["t_hit"].shape == (32 * 24,)
    np.testing.assert_array_equal(raw["t_hit"].reshape(24, 32), out["depth"])
    with pytest.raises(KeyError, match="valid names"):
        room_renderer.render(K, T, modalities=("rgbd",))
    scaled = T.copy()
    scaled[:3, :3] *= 2.0
    with pytest.raises(ValueError, match="orthonormal"):
        room_renderer.render(K, scaled)
    with pytest.raises(ValueError, match="4x4"):
        room_renderer.render(K, T[:3])
    with pytest.raises(ValueError, match="fx and fy > 0"):
        room_renderer.render(Intrinsics(0.0, 10.0, 8.0, 8.0, 16, 16), T)


@pytest.mark.parametrize("threads", [2, 3])
def test_thread_count_does_not_change_the_image(room_renderer, threads):
    """Shading runs on chunks of rows shared by the threads; 41 rows split unevenly."""
    K = Intrinsics.from_fov(48, 41, 80.0)
    T = look_at(np.array([3.5, 2.6, 2.0]), np.array([1.0, 0.8, 0.4]))
    a = room_renderer.render(K, T)  # threads=1: all rows on the calling thread
    with Open3DRenderer(room_renderer.scene, threads=threads) as r:
        b = r.render(K, T)
        assert r._pool is not None and r._pool._max_workers == threads - 1  # the other threads came from it
    assert r._pool is None  # close() stopped the shading threads
    assert len(np.unique(a["instance"])) > 2  # several surfaces, so chunks see different content
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_ids_beyond_uint16_are_refused_by_name(room_renderer):
    scene = room_renderer.scene
    classes = np.zeros(70001, scene.instance_class.dtype)
    classes[:len(scene.instance_class)] = scene.instance_class
    big = dataclasses.replace(scene, face_instance=np.where(scene.face_instance == 1, 70000, scene.face_instance),
                              instance_class=classes)
    with pytest.raises(ValueError, match=r"instance ids must be in \[0, 65535\].*renumber"):
        Open3DRenderer(big, threads=1)


def test_shade_threads_must_be_positive(room_renderer):
    with pytest.raises(ValueError, match="shade_threads must be >= 1"):
        Open3DRenderer(room_renderer.scene, threads=1, shade_threads=0)


def test_built_by_hydra_from_the_renderer_config():
    from hydra.utils import instantiate

    cfg = OmegaConf.load(REPO / "configs" / "renderer" / "open3d.yaml")
    r = instantiate(cfg, scene=box_room())
    assert isinstance(r, Open3DRenderer) and r.threads == 0
