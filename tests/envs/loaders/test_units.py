"""Up-axis and unit rules of tst.envs.units, pinned at their documented thresholds."""

import numpy as np
import pytest

from tst.envs.units import detect_units, detect_up_axis, normalise, y_up_to_z_up


def box(x, y, z):
    return np.array([[0, 0, 0], [x, y, z]], np.float64)


def test_units_thresholds_on_vertical_extent():
    assert detect_units(box(50, 40, 2.5))[0] == "m"  # wide rooms in metres stay metres
    assert detect_units(box(1, 1, 20.0))[0] == "m"
    assert detect_units(box(1, 1, 20.5))[0] == "cm"
    assert detect_units(box(900, 700, 250))[0] == "cm"
    assert detect_units(box(1, 1, 1000.0))[0] == "cm"
    assert detect_units(box(9000, 7000, 2500))[0] == "mm"


def test_up_axis_rule():
    assert detect_up_axis(box(10, 2.5, 8), default="z")[0] == "y"
    assert detect_up_axis(box(10, 8, 2.5), default="y")[0] == "z"
    assert detect_up_axis(box(4, 2.5, 3), default="y")[0] == "y"  # undecided -> the format's convention
    assert detect_up_axis(box(4, 2.5, 3), default="z")[0] == "z"
    with pytest.raises(ValueError, match="default up axis"):
        detect_up_axis(box(1, 1, 1), default="x")


def test_y_up_rotation_is_proper():
    v = np.eye(3)
    r = y_up_to_z_up(v)  # columns: images of the x, y, z axes
    np.testing.assert_array_equal(r, [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert np.linalg.det(r) == 1.0  # a rotation: triangle winding is preserved


def test_normalise_combines_rotation_and_scale():
    v = np.array([[0, 0, 0], [4000, 2500, -5000]], np.float64)  # y-up millimetres
    out, d = normalise(v, name="room.obj", default_up="z")
    assert (d["up_axis"], d["units"]) == ("y", "mm")
    np.testing.assert_allclose(out, [[0, 0, 0], [4, 5, 2.5]])
    out, d = normalise(v, up_axis="z", units="cm")
    np.testing.assert_allclose(out[1], [40, 25, -50])
    with pytest.raises(ValueError, match="room.obj.*up_axis must be one of"):
        normalise(v, up_axis="x", name="room.obj")
    with pytest.raises(ValueError, match="empty scene"):
        normalise(np.zeros((0, 3)))
