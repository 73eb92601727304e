"""The top-down semantic map: exact back-projection, known cells on the box room, majority votes, map mIoU."""

import numpy as np
import pytest

from tests.envs.fixtures import BOX_ROOM_CLASSES, make_box_room
from tst.envs.camera import Intrinsics, look_at
from tst.envs.freespace import FreeSpace
from tst.envs.policies.walk import WalkPolicy
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.transfer.semantic_map import TopDownMap, backproject, map_miou

VOCAB = dict(enumerate(BOX_ROOM_CLASSES))  # 0 unlabelled, 1 floor, 2 ceiling, 3 wall, 4 table


def test_backproject_is_the_pinhole_model_in_the_world_frame():
    k = Intrinsics(fx=2.0, fy=2.0, cx=1.0, cy=1.0, width=2, height=2)
    pose = np.eye(4)
    pose[:3, 3] = [10.0, 20.0, 30.0]
    labels = np.array([[1, 2], [0, 3]])
    depth = np.array([[2.0, 4.0], [1.0, 0.0]])  # pixel (1, 1) has no depth, (0, 1) no label
    pts, lab = backproject(labels, depth, k, pose)
    # pixel (u, v) centre -> ((u + 0.5 - cx) / fx * d, (v + 0.5 - cy) / fy * d, d)
    np.testing.assert_allclose(pts, [[10 - 0.5, 20 - 0.5, 32.0], [10 + 1.0, 20 - 1.0, 34.0]])
    assert lab.tolist() == [1, 2]
    with pytest.raises(ValueError, match="2x2"):
        backproject(labels[:1], depth[:1], k, pose)


def test_box_room_seen_from_above_fills_exactly_the_table_cells():
    scene = make_box_room()  # table x in [1.5, 2.5], y in [1.2, 1.8], top at z = 0.75
    k = Intrinsics.from_fov(64, 64, 90.0)
    pose = look_at(np.array([2.0, 1.5, 2.0]), np.array([2.0, 1.5, 0.0]), up=np.array([0.0, 1.0, 0.0]))
    view = Open3DRenderer(scene, threads=1).render(k, pose, ("depth", "semseg"))
    grid = TopDownMap.covering(scene.bounds, 0.1, len(VOCAB), z_range=(-0.1, 1.0))
    assert grid.shape == (30, 40) and tuple(grid.origin) == (0.0, 0.0)
    grid.add(view["semseg"], view["depth"], k, pose)
    labels = grid.labels()
    want = np.zeros_like(labels, dtype=bool)
    want[12:18, 15:25] = True  # rows = y / 0.1, cols = x / 0.1 of the table top
    np.testing.assert_array_equal(labels == 4, want)
    # the table's shadow: rays past its edges (0.5 m, 0.3 m off-axis at 1.25 m) meet the floor 1.6x further
    # out, so floor within x in [1.2, 2.8], y in [1.02, 1.98] is never seen; all other floor cells are
    expected = np.ones_like(labels)
    expected[10:20, 12:28] = 0
    expected[want] = 4
    np.testing.assert_array_equal(labels[1:-1], expected[1:-1])  # rows 0 and 29 also hold wall points
    assert set(np.unique(labels[[0, -1]])) == {1, 3} and not (labels == 2).any()

    low = TopDownMap.covering(scene.bounds, 0.1, len(VOCAB), z_range=(-0.1, 0.5))
    low.add(view["semseg"], view["depth"], k, pose)
    assert (low.labels()[want] == 0).all()  # the table top is above z_range and hides the floor below


def test_majority_vote_per_cell_and_ties_to_the_lower_id():
    grid = TopDownMap((0.0, 0.0), (1, 2), 1.0, 4)
    pts = np.array([[0.5, 0.5, 0]] * 5 + [[1.5, 0.5, 0]] * 2 + [[7.0, 0.5, 0]], dtype=float)
    labels = np.array([2, 2, 2, 1, 1, 3, 1, 2])  # the last point lies outside the grid
    assert grid.add_points(pts, labels) == 7
    assert grid.labels().tolist() == [[2, 1]]
    assert grid.votes[0, 0].tolist() == [0, 2, 3, 0]


def test_map_miou_counts_unseen_and_wrong_cells():
    truth = np.array([[1, 1], [2, 0]])
    assert map_miou(truth, truth, VOCAB)["map/mIoU"] == 100.0
    pred = np.array([[1, 0], [2, 3]])  # one floor cell left empty, the unlabelled truth cell is ignored
    res = map_miou(pred, truth, VOCAB)
    assert res["map/IoU/floor"] == 50.0 and res["map/IoU/ceiling"] == 100.0 and res["map/mIoU"] == 75.0
    pred = np.array([[1, 2], [2, 2]])
    assert map_miou(pred, truth, VOCAB)["map/mIoU"] == 50.0  # floor 1/2, ceiling 1/(1 + 2 - 1)


def test_perfect_labels_along_a_walk_give_map_miou_100():
    scene = make_box_room()
    k = Intrinsics.from_fov(48, 48, 90.0)
    renderer = Open3DRenderer(scene, threads=1)
    truth, pred = (TopDownMap.covering(scene.bounds, 0.1, len(VOCAB), (-0.1, 2.2)) for _ in range(2))
    for pose in WalkPolicy(scene, FreeSpace(scene)).plan(6, seed=0):
        view = renderer.render(k, pose, ("depth", "semseg"))
        truth.add(view["semseg"], view["depth"], k, pose)
        pred.add(view["semseg"].copy(), view["depth"], k, pose)
    assert (truth.labels() > 0).sum() > 50
    assert map_miou(pred.labels(), truth.labels(), VOCAB)["map/mIoU"] == 100.0
    noisy = pred.labels().copy()
    noisy[noisy == 4] = 1  # a map that misses the table
    res = map_miou(noisy, truth.labels(), VOCAB)
    assert res["map/IoU/table"] == 0.0 and res["map/mIoU"] < 100.0
