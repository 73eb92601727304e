"""policy=walk: continuous, collision-free, crosses doors into other rooms, deterministic."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
import trimesh

from tst.envs.freespace import FreeSpace
from tst.envs.policies.walk import WalkPolicy, room_index
from tst.envs.scene import Room, Scene


def _box(lo, hi, inward=False) -> trimesh.Trimesh:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = trimesh.creation.box(extents=hi - lo)
    m.apply_translation((lo + hi) / 2)
    if inward:
        m.invert()
    return m


def two_room_scene() -> Scene:
    """6 x 3 x 2.5 m shell (floor, ceiling, walls) split at x = 3 by a 0.1 m wall with a 1 m door (y in [1, 2], 2.1 m high),
    a table in each room. Rooms: kitchen (x < 3), bedroom (x > 3)."""
    parts = [  # (mesh, class id)
        (_box([0, 0, 0], [6, 3, 2.5], inward=True), 3),  # shell (walls)
        (_box([2.95, 0, 0], [3.05, 1, 2.5]), 3), (_box([2.95, 2, 0], [3.05, 3, 2.5]), 3),  # wall + door gap
        (_box([2.95, 1, 2.1], [3.05, 2, 2.5]), 3),  # lintel
        (_box([1.0, 0.3, 0], [2.0, 0.9, 0.75]), 4), (_box([4.5, 2.0, 0], [5.5, 2.7, 0.75]), 4),  # tables
    ]
    verts, faces, inst = [], [], []
    for k, (m, _) in enumerate(parts):
        faces.append(np.asarray(m.faces) + sum(len(v) for v in verts))
        verts.append(np.asarray(m.vertices))
        inst.append(np.full(len(m.faces), k + 1))
    z = np.asarray(parts[0][0].vertices)[np.asarray(parts[0][0].faces)][:, :, 2]  # [12, 3] shell corner heights
    inst[0][(z < 1e-6).all(1)], inst[0][(z > 2.5 - 1e-6).all(1)] = len(parts) + 1, len(parts) + 2  # floor, ceiling
    return Scene(vertices=np.concatenate(verts).astype(np.float32), faces=np.concatenate(faces).astype(np.int32),
                 face_instance=np.concatenate(inst).astype(np.int32),
                 instance_class=np.array([0] + [c for _, c in parts] + [1, 2], np.int32),
                 class_names=["unlabelled", "floor", "ceiling", "wall", "table"], scene_id="two_rooms",
                 # like synth apartments, room outlines stop at the wall's face: the doorway is in no room
                 rooms=[Room("kitchen", np.array([[0, 0], [2.95, 0], [2.95, 3], [0, 3]], np.float32), 0.0, 2.5),
                        Room("bedroom", np.array([[3.05, 0], [6, 0], [6, 3], [3.05, 3]], np.float32), 0.0, 2.5)]
                 ).validate()


@pytest.fixture(scope="module")
def scene():
    return two_room_scene()


@pytest.fixture(scope="module")
def walk(scene):
    return WalkPolicy(scene, FreeSpace(scene), height=1.5, step=0.25, turn=25.0)


def _raycaster(scene):
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(scene.vertices), o3d.core.Tensor(scene.faces.astype(np.uint32)))
    return rc


def test_walk_never_crosses_geometry(scene, walk):
    poses = walk.plan(120, seed=0)
    assert len(poses) == 120
    pos = np.stack([p[:3, 3] for p in poses])  # [n, 3]
    seg = pos[1:] - pos[:-1]
    length = np.linalg.norm(seg, axis=1)
    assert length.max() <= 0.25 + 1e-6 and length.sum() > 5.0  # small steps, but it does go places
    moving = length > 1e-6
    rays = np.concatenate([pos[:-1][moving], seg[moving] / length[moving, None]], axis=1).astype(np.float32)
    rc = _raycaster(scene)
    t = rc.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
    assert (t > length[moving]).all()  # nothing between consecutive camera positions
    dist = rc.compute_distance(o3d.core.Tensor(pos.astype(np.float32))).numpy()
    assert dist.min() > 0.1  # never brushing a wall
    np.testing.assert_allclose(pos[:, 2], 1.5, atol=1e-5)  # eye height above the flat floor


def test_walk_is_smooth(walk):
    poses = walk.plan(80, seed=1)
    fwd = np.stack([p[:3, 2] for p in poses])  # optical axes
    yaw = np.arctan2(fwd[:, 1], fwd[:, 0])
    dyaw = np.abs((np.diff(yaw) + np.pi) % (2 * np.pi) - np.pi)
    assert np.degrees(dyaw).max() <= 25.0 + 1e-6
    pitch = np.degrees(np.arcsin(fwd[:, 2]))
    assert pitch.min() >= -20 - 1e-6 and pitch.max() <= 10 + 1e-6 and np.ptp(pitch) > 2  # it looks up/down


def test_walk_goes_through_the_door_into_the_other_room(scene, walk):
    poses = walk.plan(150, seed=2)
    xy = np.stack([p[:2, 3] for p in poses])
    rooms = room_index(scene, xy)  # -1 while in the doorway (in no room)
    assert set(rooms.tolist()) >= {0, 1}
    side = np.where(xy[:, 0] < 3.0, 0, 1)
    crossings = np.flatnonzero(np.diff(side) != 0)
    assert len(crossings) >= 1
    for c in crossings:  # every change of side happens in the doorway
        mid = (xy[c] + xy[c + 1]) / 2
        assert 1.0 < mid[1] < 2.0 and 2.6 < mid[0] < 3.4
    rep = walk.report()
    assert rep["rooms_visited"] == ["bedroom", "kitchen"] and rep["room_changes"] >= 1
    assert rep["planned"] == 150


def test_walk_is_deterministic_and_extends(walk):
    a, b = walk.plan(60, seed=5), walk.plan(60, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    longer = walk.plan(90, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, longer[:60]))
    c = walk.plan(60, seed=6)
    assert not np.allclose(a[10], c[10])


def test_bad_arguments(scene):
    with pytest.raises(ValueError, match="step"):
        WalkPolicy(scene, step=0.0)


def test_walk_tours_a_generated_apartment():
    from tst.envs.synth.generator import generate_apartment

    apt = generate_apartment(0)
    w = WalkPolicy(apt, FreeSpace(apt))
    poses = w.plan(250, seed=0)
    rooms = room_index(apt, np.stack([p[:2, 3] for p in poses]))
    assert len(set(rooms[rooms >= 0].tolist())) >= 3 and len(w.report()["rooms_visited"]) >= 3
