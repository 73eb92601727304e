"""The map's picture: the highest voxel of each column up to a height above the floor, by class."""

import numpy as np
import pytest
from PIL import Image

from tst.transfer.space_fusion import _BITS, _HALF, VoxelVotes, voxel_indices
from tst.transfer.space_map_image import save_image, top_down


def _votes(cells: dict[tuple[int, int, int], int], num_classes: int = 5) -> VoxelVotes:
    """A map with one voxel per given (i, j, k) index, voted for its class (0.1 m voxels)."""
    idx = np.array(list(cells), np.int64) + _HALF
    keys = (idx[:, 0] << (2 * _BITS)) | (idx[:, 1] << _BITS) | idx[:, 2]
    order = np.argsort(keys)
    v = VoxelVotes(num_classes, 0.1)
    v.keys = keys[order]
    v.votes = np.zeros((len(keys), num_classes), np.int64)
    v.votes[np.arange(len(keys)), np.array(list(cells.values()))[order]] = 3
    return v


def test_voxel_indices_invert_the_packed_keys():
    v = _votes({(-3, 4, 0): 1, (7, -2, 25): 2})
    assert sorted(map(tuple, voxel_indices(v.keys).tolist())) == [(-3, 4, 0), (7, -2, 25)]


def test_top_down_shows_furniture_tops_not_the_ceiling():
    FLOOR, TABLE, CEILING, WALL = 1, 2, 3, 4
    cells = {(i, j, 0): FLOOR for i in range(4) for j in range(3)}  # a 4 x 3 floor at z = 0
    cells.update({(i, j, 25): CEILING for i in range(4) for j in range(3)})  # the ceiling 2.5 m up
    cells.update({(1, 1, k): TABLE for k in range(1, 8)})  # a table column up to 0.7 m
    cells.update({(3, j, k): WALL for j in range(3) for k in range(1, 25)})  # a wall along x = 3
    grid, origin = top_down(_votes(cells), max_height=1.5)
    want = np.full((3, 4), FLOOR)
    want[1, 1], want[:, 3] = TABLE, WALL
    assert origin == (0.0, 0.0) and np.array_equal(grid, want)
    grid, origin = top_down(_votes({**cells, (-2, 5, 0): FLOOR}))  # cells nothing mapped stay 0
    assert origin == (pytest.approx(-0.2), 0.0) and grid.shape == (6, 6) and grid[5, 0] == FLOOR
    assert grid[4, 0] == 0 and grid[0, 2] == FLOOR


def test_the_picture_is_written_and_an_empty_map_says_so(tmp_path):
    cells = {(i, j, 0): 1 for i in range(20) for j in range(10)}
    cells.update({(5, 5, 3): 2})
    path = save_image(_votes(cells), {1: "floor", 2: "table"}, tmp_path / "space_map.png")
    w, h = Image.open(path).size
    assert w > 200 and h > 100
    with pytest.raises(ValueError, match="the space map is empty"):
        top_down(VoxelVotes(3, 0.1))
