"""Untextured meshes render grey 200 (never trimesh's stand-in material); truncated PLYs say so."""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs.fixtures import make_box_room
from tst.envs.camera import Intrinsics, look_at
from tst.envs.loaders import ply
from tst.envs.loaders.mesh import load_mesh
from tst.envs.loaders.scannet import load_scannet, write_scannet
from tst.envs.render.open3d_renderer import Open3DRenderer


def _wall(path, **extra):
    """A 4 x 3 m wall in the plane y = 2, facing -y (towards a camera at the origin)."""
    v = np.array([[-2, 2, 0], [2, 2, 0], [2, 2, 3], [-2, 2, 3]], np.float32)
    props = {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2], **extra}
    ply.write_ply(path, props, np.array([[0, 1, 2], [0, 2, 3]]))
    return path


def _centre_rgb(scene) -> np.ndarray:
    cam = look_at(np.array([0.0, 0.0, 1.5]), np.array([0.0, 2.0, 1.5]))
    rgb = Open3DRenderer(scene, threads=1).render(Intrinsics.from_fov(33, 33, 60.0), cam, ("rgb",))["rgb"]
    return rgb[16, 16].astype(int)


def test_ply_with_uvs_but_no_texture_renders_grey_200(tmp_path, caplog):
    path = _wall(tmp_path / "wall.ply", s=np.array([0, 1, 1, 0], np.float32), t=np.array([0, 0, 1, 1], np.float32))
    with caplog.at_level("INFO"):
        scene = load_mesh(path, up_axis="z", units="m")
    assert "neutral grey 200" in caplog.text
    # face-on at the centre pixel the headlight factor ambient + (1 - ambient) |cos| is 1
    assert np.abs(_centre_rgb(scene) - 200).max() <= 5


def test_vertex_colours_are_used_and_logged(tmp_path, caplog):
    c = np.array([90, 160, 30], np.uint8)
    path = _wall(tmp_path / "wall.ply", red=np.full(4, c[0]), green=np.full(4, c[1]), blue=np.full(4, c[2]))
    with caplog.at_level("INFO"):
        scene = load_mesh(path, up_axis="z", units="m")
    assert "vertex colours" in caplog.text
    assert np.abs(_centre_rgb(scene) - c).max() <= 5


def test_truncated_ply_names_file_element_and_row(tmp_path):
    root = write_scannet(make_box_room(), tmp_path / "scene0002_00")
    mesh = root / "scene0002_00_vh_clean_2.ply"
    mesh.write_bytes(mesh.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"scene0002_00_vh_clean_2\.ply: the file is incomplete.*element 'face' "
                                         r"\(of 24 rows\), row \d+.*re-download or re-export") as err:
        load_scannet(root)
    assert "expected a PLY header" not in str(err.value)
