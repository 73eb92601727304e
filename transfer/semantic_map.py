"""A top-down semantic map of the test space from per-pixel labels, depth and the camera pose.

Why: the specialised model should be able to map its own space. Each labelled pixel with a depth
is lifted to a 3-D point (pinhole, OpenCV axes, depth = z in the camera frame as the renderer
writes it), moved to the world with ``cam_to_world`` and dropped into a 2-D grid over world x/y.
Every cell keeps a vote count per class; its label is the majority (ties -> the lower id, no
votes -> 0). The ground-truth map is the SAME projection of the rendered semseg, so the map mIoU
measures the labels, not the geometry; cells the ground truth never saw are ignored.

Grid layout: ``labels()[row, col]`` covers world x in ``origin[0] + col * cell + [0, cell)`` and
y in ``origin[1] + row * cell + [0, cell)`` (row 0 = smallest y; images flip it so +y is up).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tst.envs.camera import Intrinsics
from tst.metrics.semseg import SemSegEvaluator


def backproject(labels: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, cam_to_world: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """labels [H, W] + depth [H, W] metres -> world points [N, 3] and their labels [N].

    Pixels with label 0, depth <= 0 or non-finite depth are dropped."""
    labels, depth = np.asarray(labels), np.asarray(depth, dtype=np.float64)
    if labels.shape != depth.shape or labels.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f"labels {labels.shape} and depth {depth.shape} must both be "
                         f"{intrinsics.height}x{intrinsics.width} (the intrinsics' size)")
    keep = (labels > 0) & np.isfinite(depth) & (depth > 0)  # [H, W]
    v, u = np.nonzero(keep)
    d = depth[v, u]
    cam = np.stack([(u + 0.5 - intrinsics.cx) / intrinsics.fx * d,
                    (v + 0.5 - intrinsics.cy) / intrinsics.fy * d, d], axis=1)  # [N, 3] camera frame
    T = np.asarray(cam_to_world, dtype=np.float64)
    return cam @ T[:3, :3].T + T[:3, 3], labels[v, u].astype(np.int64)


class TopDownMap:
    """Per-cell class votes over a world x/y rectangle; ``add`` frames, read ``labels()``.

    origin: world (x, y) of the grid's lower corner; shape: (rows, cols); cell: metres per cell;
    z_range: only points with z in [lo, hi] vote (keeps the ceiling from covering the map).
    """

    def __init__(self, origin: tuple[float, float], shape: tuple[int, int], cell: float, num_classes: int,
                 z_range: tuple[float, float] = (-np.inf, np.inf)):
        if cell <= 0 or min(shape) < 1 or num_classes < 2:
            raise ValueError(f"TopDownMap needs cell > 0, a non-empty shape and >= 2 classes; got cell={cell}, "
                             f"shape={shape}, num_classes={num_classes}")
        self.origin, self.shape, self.cell = np.asarray(origin, np.float64), tuple(int(s) for s in shape), float(cell)
        self.num_classes, self.z_range = int(num_classes), (float(z_range[0]), float(z_range[1]))
        self.votes = np.zeros((*self.shape, self.num_classes), dtype=np.int64)  # [rows, cols, C]

    @classmethod
    def covering(cls, bounds: np.ndarray, cell: float, num_classes: int, z_range=(-np.inf, np.inf)) -> TopDownMap:
        """A grid over a scene's ``bounds`` ([2, 3] min/max corners)."""
        lo, hi = np.asarray(bounds, np.float64)[0, :2], np.asarray(bounds, np.float64)[1, :2]
        cols, rows = np.maximum(np.ceil((hi - lo) / cell - 1e-9).astype(int), 1)
        return cls((lo[0], lo[1]), (rows, cols), cell, num_classes, z_range)

    def cells_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World xy [N, 2] -> (row [N], col [N], inside-the-grid mask [N])."""
        ij = np.floor((np.asarray(xy, np.float64) - self.origin) / self.cell).astype(np.int64)  # [N, 2] col, row
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < self.shape[1]) & (ij[:, 1] >= 0) & (ij[:, 1] < self.shape[0])
        return ij[:, 1], ij[:, 0], inside

    def add_points(self, points: np.ndarray, labels: np.ndarray) -> int:
        """Vote with world points [N, 3] labelled [N]; returns how many points voted."""
        z = points[:, 2]
        ok = (z >= self.z_range[0]) & (z <= self.z_range[1]) & (labels > 0) & (labels < self.num_classes)
        row, col, inside = self.cells_of(points[:, :2])
        ok &= inside
        flat = (row[ok] * self.shape[1] + col[ok]) * self.num_classes + labels[ok]
        self.votes += np.bincount(flat, minlength=self.votes.size).reshape(self.votes.shape)
        return int(ok.sum())

    def add(self, labels: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, cam_to_world: np.ndarray) -> int:
        """Project one frame's labels [H, W] through its depth [H, W] and pose into the grid."""
        return self.add_points(*backproject(labels, depth, intrinsics, cam_to_world))

    def labels(self) -> np.ndarray:
        """[rows, cols] int64 majority class per cell, 0 where nothing voted."""
        return np.where(self.votes.sum(-1) > 0, self.votes.argmax(-1), 0)


def map_miou(pred: np.ndarray, truth: np.ndarray, class_names: Mapping[int, str], prefix: str = "map"
             ) -> dict[str, float]:
    """``map/mIoU`` (0-100) and per-class ``map/IoU/<name>`` over the cells the ground truth labels;
    a cell the prediction left empty counts as wrong."""
    names = {int(k): v for k, v in class_names.items() if int(k) != 0}
    ev = SemSegEvaluator(names, ignore_index=0, prefix=prefix)
    ev.add(np.asarray(truth), np.asarray(pred))
    return ev.evaluate()
