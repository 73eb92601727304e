"""The spread of a plan: recorded numbers, and refusals of confined plans naming cause and fix."""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs.fixtures import make_box_room
from tst.collect.spread import spread_problem, spread_report
from tst.envs.camera import pose_from_yaw_pitch
from tst.envs.freespace import FreeSpace


@pytest.fixture(scope="module")
def fs():
    return FreeSpace(make_box_room(), threads=1)


def _poses(xy):
    return np.stack([pose_from_yaw_pitch(np.array([x, y, 1.5]), 0.0, 0.0) for x, y in xy])


def test_numbers_on_the_box_room(fs):
    rep = spread_report(fs, _poses([[0.5, 0.5], [3.5, 0.5], [3.5, 2.5], [0.5, 2.5]]))
    assert rep["path_length_m"] == pytest.approx(3 + 2 + 3)
    assert rep["floor_area_m2"] == pytest.approx(12.0)  # 4 x 3 m
    assert 0.5 * 12 < rep["navigable_area_m2"] < 12  # the walls' margin and the table's footprint are not
    assert 0.5 < rep["extent_fraction"] < 0.75 and rep["visited_cells"] == 4  # hull 3 x 2 m of ~3.4 x 2.4 m
    assert spread_problem(rep, 4, "box_room", "random") is None


def test_cameras_in_one_spot_are_refused(fs):
    rep = spread_report(fs, _poses([[0.6, 0.6], [0.7, 0.6], [0.6, 0.65], [0.7, 0.7]] * 4))
    msg = spread_problem(rep, 16, "box_room", "walk")
    assert msg and "lie within" in msg and "policy=walk" in msg and "stuck" in msg


def test_navigable_area_cut_to_one_cell_is_refused(fs, monkeypatch):
    real = fs.occupancy_grid

    def one_cell(*a, **kw):
        nav, origin, cell = real(*a, **kw)
        cut = np.zeros_like(nav)
        i, j = np.argwhere(nav)[0]
        cut[i, j] = True
        return cut, origin, cell

    monkeypatch.setattr(fs, "occupancy_grid", one_cell)
    rep = spread_report(fs, _poses([[0.5, 0.5]] * 8))
    msg = spread_problem(rep, 8, "box_room", "random")
    assert msg and "of floor is navigable" in msg and "confine" in msg


def test_explore_far_below_target_is_refused():
    rep = {"freespace_mode": "open", "floor_area_m2": 10.0, "navigable_area_m2": 8.0, "spot_radius_m": 3.0}
    msg = spread_problem(rep, 16, "s", "explore", {"scene_coverage": 0.2, "coverage_target": 0.9,
                                                   "observable_fraction": 0.8})
    assert msg and "raise frames" in msg
