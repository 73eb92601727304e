"""A picture of the test space's map: the fused 3-D votes seen from above, coloured by class.

Why: ``space_map.npz`` is what an agent reads, but a person checking whether the map of their space makes
sense wants to look at it: are the sofa and the bed where they stand, is the kitchen labelled as one?
Each floor cell shows the highest mapped voxel up to ``max_height`` above the floor (so furniture tops
show, and the ceiling and lamps do not hide the room), in the colour every other tst picture gives its
class (``tst.palette``). The floor height is the 1st percentile of the voxels' heights (scenes are z-up
metres, the shard contract), robust to a few voxels below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tst.palette import class_colour
from tst.plots import _save  # the figure saver every tst picture uses (selects the Agg backend)
from tst.transfer.space_fusion import VoxelVotes, voxel_indices

IMAGE_FILE = "space_map.png"  # next to space_map.npz in the transfer run directory


def top_down(votes: VoxelVotes, max_height: float = 1.5) -> tuple[np.ndarray, tuple[float, float]]:
    """[rows, cols] majority class of the highest voxel in each column whose bottom lies at most ``max_height``
    above the floor (0: nothing mapped), and the world (x, y) of cell [0, 0]'s lower corner. Row 0 = smallest y."""
    if not len(votes.keys):
        raise ValueError("the space map is empty: no view had a pixel with depth and a class")
    ijk = voxel_indices(votes.keys)  # [V, 3] integer voxel coordinates
    label = votes.votes.argmax(1)
    floor = int(np.floor(np.percentile(ijk[:, 2], 1)))
    keep = (ijk[:, 2] <= floor + int(round(max_height / votes.voxel))) & (votes.votes.sum(1) > 0)
    ijk, label = ijk[keep], label[keep]
    lo = ijk[:, :2].min(0)
    rows, cols = (ijk[:, :2].max(0) - lo + 1)[::-1]
    out = np.zeros((rows, cols), np.int64)
    order = np.argsort(ijk[:, 2], kind="stable")  # low to high: the highest voxel of a column is written last
    out[ijk[order, 1] - lo[1], ijk[order, 0] - lo[0]] = label[order]
    return out, (float(lo[0] * votes.voxel), float(lo[1] * votes.voxel))


def save_image(votes: VoxelVotes, class_names: Mapping[int, str], path: str | Path, max_height: float = 1.5,
               title: str = "") -> Path:
    """Draw ``top_down`` with a legend of the classes it shows (largest area first) and a metre scale."""
    import matplotlib.pyplot as plt  # headless: importing tst.plots (above) selected Agg
    from matplotlib.patches import Patch

    grid, (x0, y0) = top_down(votes, max_height)
    rgb = np.array([class_colour(c) for c in range(int(grid.max()) + 1)], np.uint8)[grid]
    rgb[grid == 0] = 255  # unmapped: white, not the black of "unlabelled"
    rows, cols = grid.shape
    fig, ax = plt.subplots(figsize=(min(12.0, 3.0 + cols / 12), min(10.0, 1.5 + rows / 12)))
    ax.imshow(rgb, origin="lower", interpolation="nearest",
              extent=(x0, x0 + cols * votes.voxel, y0, y0 + rows * votes.voxel))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title or f"space map from above (voxels of {votes.voxel:g} m up to {max_height:g} m above the floor)",
                 fontsize=9)
    ids, area = np.unique(grid[grid > 0], return_counts=True)
    shown = ids[np.argsort(-area, kind="stable")][:16]
    ax.legend(handles=[Patch(color=np.array(class_colour(int(c))) / 255, label=class_names.get(int(c), str(c)))
                       for c in shown], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _save(fig, path)  # tight layout, 100 dpi, closed: as every tst figure
