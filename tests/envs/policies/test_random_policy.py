"""policy=random: poses are free, inside the ranges asked for, deterministic and prefix-stable."""

import numpy as np
import pytest

from tests.envs.fixtures import make_box_room
from tst.envs.freespace import FreeSpace
from tst.envs.policies.base import PolicyError
from tst.envs.policies.random import BLOCK, RandomPolicy


@pytest.fixture(scope="module")
def room():
    scene = make_box_room()
    return scene, FreeSpace(scene, threads=1)


def test_poses_are_rigid_free_and_inside_the_configured_ranges(room):
    scene, fs = room
    pol = RandomPolicy(scene, fs, height=(1.0, 1.5), pitch=(-20.0, 10.0), clearance=0.25)
    poses = np.stack(pol.plan(BLOCK + 6, seed=0))  # [N, 4, 4]; crosses a block boundary
    assert poses.shape == (BLOCK + 6, 4, 4)
    R, t = poses[:, :3, :3], poses[:, :3, 3]
    np.testing.assert_allclose(R.transpose(0, 2, 1) @ R, np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    assert (t[:, 2] >= 1.0 - 1e-9).all() and (t[:, 2] <= 1.5 + 1e-9).all()  # the floor is z = 0
    assert (t[:, 0] > 0.25).all() and (t[:, 0] < 3.75).all() and (t[:, 1] > 0.25).all() and (t[:, 1] < 2.75).all()
    assert (fs.distance(t) >= 0.25 - 1e-6).all()
    fwd = R[:, :, 2]  # optical axis in the world
    pitch = np.rad2deg(np.arcsin(fwd[:, 2]))
    assert (pitch >= -20 - 1e-6).all() and (pitch <= 10 + 1e-6).all()
    assert np.abs(R[:, 2, 0]).max() < 1e-9  # level cameras: image x axis stays horizontal
    yaw = np.arctan2(fwd[:, 1], fwd[:, 0])
    assert np.ptp(yaw) > np.pi  # headings cover the circle
    for p in poses[:5]:
        fs.check_pose(p, clearance=0.2)


def test_plan_is_deterministic_and_prefix_stable(room):
    scene, fs = room
    pol = RandomPolicy(scene, fs)
    a = np.stack(pol.plan(10, seed=3))
    b = np.stack(pol.plan(BLOCK + 10, seed=3))
    np.testing.assert_array_equal(a, b[:10])  # extending frames= keeps the first poses
    np.testing.assert_array_equal(b, np.stack(RandomPolicy(scene, fs).plan(BLOCK + 10, seed=3)))
    assert not np.allclose(a, np.stack(pol.plan(10, seed=4)))
    assert pol.report()["planned"] == 10


def test_no_free_space_is_a_clear_policy_error():
    scene = make_box_room(height=0.5, table_size=(0.2, 0.2, 0.2))  # too low for any camera height
    pol = RandomPolicy(scene, FreeSpace(scene, threads=1), height=(0.9, 1.8))
    with pytest.raises(PolicyError, match=r"policy=random cannot place cameras in scene 'box_room'.*free positions"):
        pol.plan(4, seed=0)


def test_bad_ranges_fail_naming_the_field(room):
    scene, fs = room
    with pytest.raises(ValueError, match="policy.pitch"):
        RandomPolicy(scene, fs, pitch=(10.0, -10.0))
    with pytest.raises(ValueError, match="policy.height"):
        RandomPolicy(scene, fs, height=(2.0, 1.0))


def test_random_asks_free_space_for_exactly_the_frames_it_plans(room):
    scene, fs = room
    asked = []

    class Counting(FreeSpace):
        def sample_positions(self, n, rng, **kw):
            asked.append(n)
            return super().sample_positions(n, rng, **kw)

    counting = Counting(scene, threads=1)
    poses = RandomPolicy(scene, counting).plan(16, seed=0)
    assert len(poses) == 16 and asked == [16]
    asked.clear()
    RandomPolicy(scene, counting).plan(BLOCK + 3, seed=0)
    assert asked == [BLOCK, 3]
