"""Loaded scenes render their labelled objects where they project: each loader's output of the box
room renders the same depth and the same class (by name) at every pixel as the original room."""

import numpy as np
import pytest

from tests.envs.fixtures import (
    make_box_room,
    write_mesh_fixture,
    write_replica_fixture,
    write_scannetpp_fixture,
)
from tst.envs.camera import Intrinsics, look_at
from tst.envs.loaders.mesh import load_mesh
from tst.envs.loaders.replica import load_replica
from tst.envs.loaders.scannetpp import load_scannetpp

open3d_renderer = pytest.importorskip("tst.envs.render.open3d_renderer")

K = Intrinsics.from_fov(96, 64, hfov_deg=100.0)
POSES = [look_at(np.array([0.4, 0.3, 1.6]), np.array([2.0, 1.5, 0.5])),  # table, floor and walls
         look_at(np.array([2.0, 1.5, 2.2]), np.array([2.01, 1.5, 0.0]))]  # straight down onto the table


def render(scene, pose):
    return open3d_renderer.Open3DRenderer(scene, threads=1).render(K, pose, ("depth", "semseg"))


@pytest.mark.parametrize("fmt", ["replica", "scannetpp", "glb"])
def test_loaded_box_room_renders_like_the_original(tmp_path, fmt):
    room = make_box_room()
    if fmt == "replica":
        loaded = load_replica(write_replica_fixture(room, tmp_path / "r", quads=True, object_id_type="uint16"))
    elif fmt == "scannetpp":
        loaded = load_scannetpp(write_scannetpp_fixture(room, tmp_path / "s"))
    else:
        loaded = load_mesh(write_mesh_fixture(room, tmp_path / "room.glb"))
    names_ref, names_got = np.array(room.class_names), np.array(loaded.class_names)
    for pose in POSES:
        ref, got = render(room, pose), render(loaded, pose)
        assert ref["valid"].all() and got["valid"].all()  # inside a closed room every ray hits
        np.testing.assert_allclose(got["depth"], ref["depth"], atol=1e-5)
        same = names_got[got["semseg"]] == names_ref[ref["semseg"]]
        assert same.mean() > 0.999, f"{fmt}: class names differ on {np.count_nonzero(~same)} pixels"
        assert {"table", "floor", "wall"} <= set(names_got[got["semseg"]].ravel())
    centre = render(loaded, POSES[1])
    assert names_got[centre["semseg"][32, 48]] == "table"
    assert abs(centre["depth"][32, 48] - (2.2 - 0.75)) < 1e-3  # camera height minus table height


def test_simple_room_asset_table_is_seen_from_above(shared_asset):
    s = load_mesh(shared_asset("simple_room.glb"),
                  class_map={r"^Cube$": "floor", r"^Cube\.00[2-6]$": "table", r"^Cube\.001$": "box"})
    out = open3d_renderer.Open3DRenderer(s, threads=1).render(
        K, look_at(np.array([0.25, 0.25, 2.0]), np.array([0.26, 0.25, 0.0])), ("depth", "semseg"))
    assert s.class_names[out["semseg"][32, 48]] == "table"
    assert abs(out["depth"][32, 48] - (2.0 - 1.152)) < 5e-3  # top of the table top at z = 1.152
    assert s.class_names[out["semseg"][0, 0]] == "floor"  # the corner of the view misses the table
