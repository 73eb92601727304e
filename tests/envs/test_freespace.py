"""Free-space queries on the box room, checked against distances computed by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.envs.render.scenes import ROOM, TABLE_HI, TABLE_LO, box_room
from tst.envs.camera import look_at
from tst.envs.freespace import FreeSpace, NoFreeSpaceError, PoseError


def analytic_distance(p: np.ndarray) -> np.ndarray:
    """[n] exact distance from points inside the room (outside the table) to the nearest surface."""
    room = np.minimum(p, np.array(ROOM) - p).min(1)  # to the six room planes
    gap = np.maximum(np.maximum(TABLE_LO - p, p - TABLE_HI), 0)  # [n, 3] per-axis gap to the table box
    return np.minimum(room, np.linalg.norm(gap, axis=1))


@pytest.fixture(scope="module", params=["rooms", "generic"])
def fs(request):
    scene = box_room()
    if request.param == "generic":
        scene.rooms = []  # exercise the enclosure test instead of the room polygons
    return FreeSpace(scene, threads=1)


def test_floor_height_sees_the_floor_under_a_table_and_nothing_outside(fs):
    xy = np.array([[1.0, 1.0], [2.0, 1.5], [2.3, 1.7], [5.0, 1.0], [-0.5, 2.0]])
    np.testing.assert_allclose(fs.floor_height(xy)[:3], 0.0, atol=1e-6)  # (2, 1.5) is under the table
    assert np.isnan(fs.floor_height(xy)[3:]).all()


def test_sampled_positions_keep_clearance_and_height(fs):
    p = fs.sample_positions(300, np.random.default_rng(0), height=(0.9, 1.8), clearance=0.3)
    assert p.shape == (300, 3)
    assert (p[:, 2] >= 0.9 - 1e-6).all() and (p[:, 2] <= 1.8 + 1e-6).all()  # floor is z = 0
    inside = (p > 0).all(1) & (p < np.array(ROOM)).all(1)
    assert inside.all()
    assert analytic_distance(p).min() >= 0.3 - 1e-5
    # the whole free region is used, not one corner: both sides of the table are sampled
    assert (p[:, 1] < 1.0).any() and (p[:, 1] > 2.0).any() and (p[:, 0] < 1.0).any() and (p[:, 0] > 3.0).any()
    again = fs.sample_positions(300, np.random.default_rng(0), height=(0.9, 1.8), clearance=0.3)
    np.testing.assert_array_equal(p, again)  # deterministic in the generator


def test_low_positions_avoid_the_table(fs):
    # at 0.3-0.7 m the table box is an obstacle: no sample may come within 0.2 m of it
    p = fs.sample_positions(200, np.random.default_rng(1), height=(0.3, 0.7), clearance=0.2)
    assert analytic_distance(p).min() >= 0.2 - 1e-5


def test_impossible_clearance_raises_with_the_reason(fs):
    with pytest.raises(NoFreeSpaceError, match="clearance 2.0") as err:
        fs.sample_positions(5, np.random.default_rng(0), clearance=2.0, max_rounds=3)
    assert "too_close" in str(err.value) and isinstance(err.value, RuntimeError)


def test_is_free_matches_analytic_distance(fs):
    rng = np.random.default_rng(2)
    p = rng.uniform([0.01, 0.01, 0.01], np.array(ROOM) - 0.01, size=(2000, 3))
    in_table = (p > TABLE_LO).all(1) & (p < TABLE_HI).all(1)
    d = analytic_distance(p)
    expected = ~in_table & (d >= 0.25)
    decided = in_table | (np.abs(d - 0.25) > 1e-4)  # skip points on the threshold itself
    np.testing.assert_array_equal(fs.is_free(p, 0.25)[decided], expected[decided])
    np.testing.assert_allclose(fs.distance(p[~in_table]), d[~in_table], atol=1e-5)
    assert not fs.is_free(np.array([[6.0, 1.0, 1.0], [2.0, -1.0, 1.0]]), 0.1).any()  # outside the room


def test_check_pose_names_the_reason(fs):
    def pose(p):
        p = np.asarray(p, float)
        return look_at(p, p + [1.0, 0.3, 0.0])

    assert fs.check_pose(pose([1.0, 1.0, 1.2])) is None
    with pytest.raises(PoseError, match="inside geometry") as err:
        fs.check_pose(pose([2.0, 1.5, 0.4]))  # in the table
    assert err.value.reason == "inside_geometry"
    with pytest.raises(PoseError, match="outside the building") as err:
        fs.check_pose(pose([6.0, 1.0, 1.2]))
    assert err.value.reason == "outside_building"
    with pytest.raises(PoseError, match=r"0\.020 m < clearance 0.05") as err:
        fs.check_pose(pose([0.02, 1.0, 1.2]))  # 2 cm from the wall x = 0
    assert err.value.reason == "too_close"
    bad = pose([1.0, 1.0, 1.2])
    bad[:3, :3] *= 3
    with pytest.raises(ValueError, match="orthonormal"):
        fs.check_pose(bad)


def test_segment_free_blocks_moves_through_or_near_geometry(fs):
    assert fs.segment_free([0.5, 0.5, 1.2], [3.5, 2.5, 1.2], 0.2)  # over the table
    assert not fs.segment_free([0.5, 1.5, 0.4], [3.5, 1.5, 0.4], 0.1)  # through the table
    assert not fs.segment_free([0.5, 1.0, 0.4], [3.5, 1.0, 0.4], 0.25)  # passes 0.2 m from its side
    assert fs.segment_free([0.5, 0.9, 0.4], [3.5, 0.9, 0.4], 0.25)  # passes 0.3 m from its side
    assert not fs.segment_free([3.5, 1.0, 1.2], [4.5, 1.0, 1.2], 0.05)  # through the wall


def test_occupancy_grid_is_the_floor_minus_walls_and_table(fs):
    nav, origin, cell = fs.occupancy_grid(cell=0.1, z_range=(0.2, 1.6), radius=0.17)
    assert nav.shape == (40, 30) and cell == 0.1
    np.testing.assert_allclose(origin, [0.0, 0.0])
    cx = origin[0] + (np.arange(40) + 0.5) * cell
    cy = origin[1] + (np.arange(30) + 0.5) * cell
    x, y = np.meshgrid(cx, cy, indexing="ij")
    wall = np.minimum.reduce([x, ROOM[0] - x, y, ROOM[1] - y])
    gap = np.hypot(np.maximum(np.maximum(TABLE_LO[0] - x, x - TABLE_HI[0]), 0),
                   np.maximum(np.maximum(TABLE_LO[1] - y, y - TABLE_HI[1]), 0))
    expected = (wall >= 0.17) & (gap >= 0.17)
    np.testing.assert_array_equal(nav, expected)


def test_occupancy_grid_keeps_doorways_so_rooms_connect():
    """Room outlines stop at the wall's face: the 1 m doorway in the 0.1 m wall at x = 3 is in no room,
    yet it is navigable and joins the two rooms into one region; the wall beside it is not."""
    from scipy import ndimage

    from tests.envs.policies.test_walk import two_room_scene

    fs2 = FreeSpace(two_room_scene(), threads=1)
    nav, origin, cell = fs2.occupancy_grid(cell=0.1, z_range=(0.3, 1.6), radius=0.2)  # starts clear of the floor
    cx = origin[0] + (np.arange(nav.shape[0]) + 0.5) * cell
    cy = origin[1] + (np.arange(nav.shape[1]) + 0.5) * cell
    i = int(np.argmin(np.abs(cx - 3.0)))  # the column of cells in the wall's thickness
    assert nav[i, (cy > 1.25) & (cy < 1.75)].all()  # through the doorway, 0.2 m clear of its jambs
    assert not nav[i, (cy < 0.95) | (cy > 2.05)].any()  # the wall itself
    labels, k = ndimage.label(nav, structure=np.ones((3, 3)))
    assert k == 1  # one region: kitchen, doorway and bedroom
    assert nav[(cx > 0.3) & (cx < 0.7)].any() and nav[(cx > 5.3) & (cx < 5.7)].any()
    strict, _, _ = fs2.occupancy_grid(cell=0.1, z_range=(0.3, 1.6), radius=0.2, doorway=0.0)
    assert not strict[i].any() and ndimage.label(strict, structure=np.ones((3, 3)))[1] == 2  # two islands


def test_open_scene_without_walls_is_detected_as_open(caplog):
    room = box_room()
    keep = np.isin(room.face_instance, [1, 7])  # only the floor and the table: a block-out without walls
    open_scene = dataclasses.replace(room, faces=room.faces[keep], face_instance=room.face_instance[keep], rooms=[])
    with pytest.raises(NoFreeSpaceError, match="freespace.enclosed=false"):  # forcing enclosed refuses it
        FreeSpace(open_scene, enclosed="true").sample_positions(5, np.random.default_rng(0), max_rounds=2)
    with caplog.at_level("INFO", logger="tst.envs.freespace"):
        fs = FreeSpace(open_scene)  # auto
    assert fs.mode == "open" and fs.escape_fraction == 1.0
    assert "open: positions over the floor" in caplog.text and "auto" in caplog.text
    closed = FreeSpace(dataclasses.replace(room, rooms=[]))
    assert closed.mode == "enclosed" and closed.escape_fraction == 0.0
    with pytest.raises(ValueError, match="freespace.enclosed='maybe'"):
        FreeSpace(open_scene, enclosed="maybe")
    p = fs.sample_positions(100, np.random.default_rng(0), height=(0.3, 1.8), clearance=0.2)
    assert (p[:, :2] >= 0).all() and (p[:, 0] <= ROOM[0]).all() and (p[:, 1] <= ROOM[1]).all()  # over the floor
    gap = np.linalg.norm(np.maximum(np.maximum(TABLE_LO - p, p - TABLE_HI), 0), axis=1)
    assert np.minimum(gap, p[:, 2]).min() >= 0.2 - 1e-5  # clear of the table and the floor
    with pytest.raises(PoseError) as err:
        fs.check_pose(look_at(np.array([5.0, 1.0, 1.0]), np.array([6.0, 1.0, 1.0])))  # beyond the floor
    assert err.value.reason == "outside_building"


def test_room_with_an_open_side_is_open_and_positions_stay_over_the_floor():
    room = box_room()
    keep = room.face_instance != 3  # one wall missing, ceiling kept: horizontal rays escape
    scene = dataclasses.replace(room, faces=room.faces[keep], face_instance=room.face_instance[keep], rooms=[])
    fs = FreeSpace(scene, threads=1)
    assert fs.mode == "open" and 0.05 < fs.escape_fraction <= 1.0
    p = fs.sample_positions(200, np.random.default_rng(0), height=(0.9, 1.8), clearance=0.3)
    assert (p[:, :2] > 0).all() and (p[:, 0] < ROOM[0]).all() and (p[:, 1] < ROOM[1]).all()
    assert (fs.distance(p) >= 0.3 - 1e-5).all()
    with pytest.raises(NoFreeSpaceError):  # forced enclosed, nearly every probe sees the open side
        FreeSpace(scene, threads=1, enclosed=True).sample_positions(200, np.random.default_rng(0), max_rounds=3)
