"""habitat-sim backend: what runs here without habitat-sim (the clear ImportError, pose / axis /
quaternion coefficients, depth -> normals, label mapping, the glb export). The simulator calls
themselves need habitat-sim and a GPU and are not exercised here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tst.envs.camera import Intrinsics, look_at
from tst.envs.loaders.thor import load_thor
from tst.envs.render.habitat_renderer import (
    ZUP_TO_YUP,
    HabitatRenderer,
    export_instance_meshes,
    from_habitat_pose,
    hfov_deg,
    labels_from_semantic,
    normals_from_depth,
    quat_coeffs,
    to_habitat_pose,
)

FIXTURE = Path(__file__).parent / "data" / "thor_floorplan_min.json"


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_missing_habitat_sim_names_the_install_and_the_default(monkeypatch):
    monkeypatch.setitem(sys.modules, "habitat_sim", None)
    with pytest.raises(ImportError, match="conda install habitat-sim.*renderer=open3d is the default"):
        HabitatRenderer(load_thor(metadata=str(FIXTURE)))


def test_level_camera_looking_north_is_habitats_identity_pose():
    """Our +y (north) is habitat's -z, the default view direction of a habitat camera."""
    T = to_habitat_pose(look_at(np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])))
    np.testing.assert_allclose(T[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [1.0, 3.0, -2.0])  # (x, z, -y)
    np.testing.assert_allclose(quat_coeffs(T[:3, :3]), [0.0, 0.0, 0.0, 1.0], atol=1e-12)  # (x, y, z, w)


def test_known_pose_axes_land_where_habitat_expects_them():
    T = to_habitat_pose(look_at(np.zeros(3), np.array([1.0, 0.0, 0.0])))  # looking east, level
    R = T[:3, :3]
    np.testing.assert_allclose(R @ [0, 0, -1], [1, 0, 0], atol=1e-12)  # GL forward -> world +x
    np.testing.assert_allclose(R @ [0, 1, 0], [0, 1, 0], atol=1e-12)  # GL up -> habitat up (+y)
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 0, 1], atol=1e-12)  # right -> south (habitat +z)
    up = to_habitat_pose(look_at(np.zeros(3), np.array([0.0, 1.0, 1.0])))  # pitched 45 deg up
    np.testing.assert_allclose(up[:3, :3] @ [0, 0, -1], [0, np.sqrt(0.5), -np.sqrt(0.5)], atol=1e-12)


def test_pose_round_trip_and_rigidity():
    rng = np.random.default_rng(0)
    for _ in range(50):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = _random_rotation(rng), rng.normal(size=3)
        H = to_habitat_pose(T)
        assert np.linalg.det(H[:3, :3]) == pytest.approx(1.0)
        np.testing.assert_allclose(H[:3, :3].T @ H[:3, :3], np.eye(3), atol=1e-12)
        np.testing.assert_allclose(from_habitat_pose(H), T, atol=1e-12)
        # a world point keeps its camera-frame coordinates up to the OpenCV -> OpenGL flip
        p = rng.normal(size=3)
        cam_cv = T[:3, :3].T @ (p - T[:3, 3])
        cam_gl = H[:3, :3].T @ (ZUP_TO_YUP @ p - H[:3, 3])
        np.testing.assert_allclose(cam_gl, cam_cv * [1, -1, -1], atol=1e-12)


def test_quaternion_coefficients_are_habitats_xyzw_with_positive_w():
    s = np.sqrt(0.5)
    R_y90 = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # +90 deg about y
    np.testing.assert_allclose(quat_coeffs(R_y90), [0.0, s, 0.0, s], atol=1e-12)
    R_zm90 = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # -90 deg about z
    np.testing.assert_allclose(quat_coeffs(R_zm90), [0.0, 0.0, -s, s], atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(20):  # w >= 0 always (q and -q are the same rotation; habitat expects one)
        assert quat_coeffs(_random_rotation(rng))[3] >= 0


def test_hfov_and_unsupported_intrinsics():
    assert hfov_deg(Intrinsics.from_fov(320, 240, 90.0)) == pytest.approx(90.0)
    assert hfov_deg(Intrinsics.from_fov(64, 64, 60.0)) == pytest.approx(60.0)
    with pytest.raises(ValueError, match="centred principal point"):
        hfov_deg(Intrinsics(100.0, 100.0, 30.0, 32.0, 64, 64))
    with pytest.raises(ValueError, match="square pixels"):
        hfov_deg(Intrinsics(100.0, 90.0, 32.0, 32.0, 64, 64))


def test_normals_from_depth_on_a_tilted_plane_are_exact():
    K = Intrinsics.from_fov(40, 30, 70.0)
    n = np.array([0.3, -0.2, -1.0]) / np.linalg.norm([0.3, -0.2, -1.0])  # faces the camera
    depth = (-2.0 / (K.pixel_rays() @ n)).astype(np.float32)  # plane n . X = -2
    depth[:3, :5] = 0.0  # a hole with no hit
    normals = normals_from_depth(depth, K)
    assert normals.dtype == np.float32 and normals.shape == (30, 40, 3)
    np.testing.assert_allclose(normals[depth > 0], np.broadcast_to(n, normals[depth > 0].shape), atol=2e-3)
    assert (normals[depth == 0] == 0).all()


def test_normals_do_not_smear_across_a_depth_edge():
    K = Intrinsics.from_fov(32, 16, 90.0)
    depth = np.full((16, 32), 2.0, np.float32)
    depth[:, 16:] = 3.0  # two fronto-parallel planes; central differences would tilt columns 15, 16
    normals = normals_from_depth(depth, K)
    np.testing.assert_allclose(normals.reshape(-1, 3), np.tile([0.0, 0.0, -1.0], (16 * 32, 1)), atol=1e-5)


def test_labels_from_semantic_ids():
    inst, sem = labels_from_semantic(np.array([[0, 1], [2, 99]], dtype=np.uint32), np.array([0, 3, 4]))
    np.testing.assert_array_equal(inst, [[0, 1], [2, 0]])
    np.testing.assert_array_equal(sem, [[0, 3], [4, 0]])
    assert inst.dtype == np.uint16 and sem.dtype == np.uint16


def test_export_instance_meshes_in_habitat_frame(tmp_path):
    scene = load_thor(metadata=str(FIXTURE))
    assets = export_instance_meshes(scene, tmp_path)
    assert [i for i, _ in assets] == list(range(1, scene.num_instances + 1))
    for inst, path in assets:
        faces = scene.faces[scene.face_instance == inst]
        expected = scene.vertices[faces].reshape(-1, 3) @ ZUP_TO_YUP.T  # y-up, un-indexed
        mesh = trimesh.load(path, force="mesh", process=False)
        np.testing.assert_allclose(mesh.vertices, expected, atol=1e-6)
        np.testing.assert_array_equal(mesh.faces, np.arange(len(expected)).reshape(-1, 3))
        np.testing.assert_array_equal(mesh.visual.vertex_colors[:, :3],
                                      scene.vertex_colors[faces].reshape(-1, 3))
    # the book (instance 4) is rotated, not mirrored: its outward normals stay outward in habitat's frame
    mesh = trimesh.load(assets[3][1], force="mesh", process=False)
    out = ((mesh.face_normals * (mesh.triangles_center - mesh.vertices.mean(0))).sum(1))
    assert (out > 0).all()


def test_renderer_habitat_config_instantiates_as_the_collector_calls_it(monkeypatch):
    """collect builds renderers as instantiate(cfg.renderer, scene=..., threads=n): the config's keys and
    that call must fit the signature, so the only failure left here is the missing habitat-sim."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from tst.cli import config_dir

    monkeypatch.setitem(sys.modules, "habitat_sim", None)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="collect", overrides=["renderer=habitat"])
    assert cfg.renderer.gpu_device_id == 0
    with pytest.raises(InstantiationException, match="conda install habitat-sim") as err:
        instantiate(cfg.renderer, scene=load_thor(metadata=str(FIXTURE)), threads=1)
    assert isinstance(err.value.__cause__, ImportError)  # not a TypeError from a signature mismatch
