"""3-D fusion of per-view classes: exact voxel keys, majority votes, and cross-view read-back on the box room."""

import numpy as np
import pytest

from tests.envs.fixtures import make_box_room
from tst.envs.camera import Intrinsics, look_at
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.transfer.space_fusion import VoxelVotes, voxel_keys

K2 = Intrinsics(fx=2.0, fy=2.0, cx=1.0, cy=1.0, width=2, height=2)


def _unpack(keys):
    half, mask = 1 << 20, (1 << 21) - 1
    return np.stack([(keys >> 42) & mask, (keys >> 21) & mask, keys & mask], 1) - half


def test_voxel_keys_are_the_floor_of_the_world_point():
    pose = np.eye(4)
    pose[:3, 3] = [10.0, -20.0, 0.0]
    depth = np.array([[2.0, 4.0], [0.0, np.nan]])  # the bottom row has no hit
    keys, valid = voxel_keys(depth, K2, pose, 0.5)
    assert valid.tolist() == [[True, True], [False, False]]
    # pixel (u, v) centre -> ((u + 0.5 - cx) / fx * d, (v + 0.5 - cy) / fy * d, d) + t
    pts = np.array([[10 - 0.5, -20 - 0.5, 2.0], [10 + 1.0, -20 - 1.0, 4.0]])
    np.testing.assert_array_equal(_unpack(keys), np.floor(pts / 0.5).astype(np.int64))
    with pytest.raises(ValueError, match="voxel"):
        voxel_keys(depth, K2, pose, 0.0)
    with pytest.raises(ValueError, match="from the origin"):
        voxel_keys(np.full((2, 2), 1e6), K2, pose, 0.1)


def test_majority_ties_thresholds_and_unseen_voxels():
    depth = np.full((2, 2), 2.0)
    votes = VoxelVotes(num_classes=4, voxel=0.1)
    for labels in ([[1, 2], [3, 0]], [[1, 2], [2, 0]], [[2, 3], [3, 0]]):  # the same 4 pixels, 3 times
        votes.add(np.array(labels), depth, {"fx": 2, "fy": 2, "cx": 1, "cy": 1, "width": 2, "height": 2}, np.eye(4))
    with pytest.raises(RuntimeError, match="finish"):
        votes.labels(depth, K2, np.eye(4))
    votes.finish()
    # pixel (0,0): 1,1,2 -> 1; (0,1): 2,2,3 -> 2; (1,0): 3,2,3 -> 3; (1,1): only label 0 -> no vote
    assert votes.labels(depth, K2, np.eye(4)).tolist() == [[1, 2], [3, 0]]
    assert votes.labels(depth, K2, np.eye(4), min_agreement=0.7).tolist() == [[0, 0], [0, 0]]
    assert votes.labels(depth, K2, np.eye(4), min_votes=4).tolist() == [[0, 0], [0, 0]]
    moved = np.eye(4)
    moved[0, 3] = 5.0  # the same pixels 5 m away: voxels nobody voted for
    assert votes.labels(depth, K2, moved).tolist() == [[0, 0], [0, 0]]
    # a tie goes to the lower class id; a second finish() adds to the counts
    votes.add(np.array([[3, 3], [0, 0]]), depth, K2, np.eye(4))
    votes.finish()
    assert votes.labels(depth, K2, np.eye(4))[0].tolist() == [1, 2]  # (0,0): 1,1,2,3 -> 1; (0,1): 2,2,3,3 tie -> 2
    votes.add(np.array([[3, 3], [0, 0]]), depth, K2, np.eye(4))
    votes.finish()
    assert votes.labels(depth, K2, np.eye(4))[0].tolist() == [1, 3]  # (0,0): 1,1,3,3 tie -> 1; (0,1): 3 x3
    with pytest.raises(ValueError, match="class ids"):
        votes.add(np.full((2, 2), 4), depth, K2, np.eye(4))


def test_box_room_views_fused_label_another_view_and_outvote_a_wrong_one():
    scene = make_box_room()
    k = Intrinsics.from_fov(48, 48, 90.0)
    eyes = [([0.6, 0.6, 1.6], [3.0, 2.2, 0.4]), ([3.4, 0.5, 1.5], [1.5, 2.0, 0.5]),
            ([3.3, 2.5, 1.7], [1.2, 0.8, 0.3]), ([0.7, 2.4, 1.4], [2.8, 0.9, 0.5])]
    views = []
    with Open3DRenderer(scene, threads=1) as r:
        for eye, at in eyes:
            pose = look_at(np.array(eye), np.array(at), up=np.array([0.0, 0.0, 1.0]))
            views.append((r.render(k, pose, ("depth", "semseg")), pose))
    votes = VoxelVotes(num_classes=5, voxel=0.1)
    for v, pose in views[:3]:
        votes.add(v["semseg"], v["depth"], k, pose)
    votes.finish()
    held_out, pose = views[3]
    fused = votes.labels(held_out["depth"], k, pose)
    seen = fused > 0
    assert seen.mean() > 0.3  # 41% of the held-out view falls in voxels the others saw (48 px views)
    # majority of the true classes in a 10 cm voxel: only voxels on an edge between two classes may differ
    assert (fused[seen] == held_out["semseg"][seen]).mean() > 0.95  # 0.977
    wrong = np.full_like(views[0][0]["semseg"], 1)  # view 0 again, all "floor" (the lowest id: ties go to it)
    votes.add(wrong, views[0][0]["depth"], k, views[0][1])
    first = votes.finish().labels(views[0][0]["depth"], k, views[0][1])
    truth = views[0][0]["semseg"]
    also = np.zeros(truth.shape, bool)  # view-0 pixels whose voxel views 1 or 2 also saw
    for v, pose in views[1:3]:
        only = VoxelVotes(num_classes=5, voxel=0.1)
        only.add(v["semseg"], v["depth"], k, pose)
        also |= only.finish().labels(views[0][0]["depth"], k, views[0][1]) > 0
    fix = also & (truth > 1)
    assert (first[(truth > 1) & ~also] == 1).all()  # seen by view 0 alone: a 1-1 tie, which floor wins
    assert fix.sum() > 200 and (first[fix] == truth[fix]).mean() > 0.9  # the wrong "floor" labels were outvoted
