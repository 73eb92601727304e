"""How a collection's cameras spread over the space, and the refusal of a degenerate one.

A policy can "succeed" while useless: when free space rejects nearly everything (a scan judged
enclosed, a clearance wider than its corridors), every camera lands in the one tiny region left and
the manifest would still say complete. Every plan is therefore measured against the navigable area
of the scene (``FreeSpace.occupancy_grid``) and the floor under it, and refused, before anything is
rendered, when the navigable region is a sliver of the floor or the cameras sit in one spot.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from tst.envs.freespace import FreeSpace

CELL = 0.25  # m: grid of the navigable area used for the spread numbers
MIN_NAV_FRACTION = 0.05  # the navigable area must be at least this share of the floor area
MIN_COVERAGE_SHARE = 0.5  # explore: seeing less than half the coverage target is refused
MIN_SPOT = 0.5  # m: cameras within a circle of this radius count as "one spot"


def _hull_area(xy: np.ndarray) -> float:
    if len(xy) < 3:
        return 0.0
    try:
        return float(ConvexHull(xy).volume)  # in 2-D, volume is the area
    except QhullError:  # collinear or coincident points
        return 0.0


def spread_report(free_space: FreeSpace, poses: np.ndarray, cell: float = CELL) -> dict:
    """Numbers for the manifest: path length, navigable and floor area, the share of navigable cells
    holding a camera and of the navigable area's extent (convex hull) spanned by the cameras."""
    nav, origin, cell = free_space.occupancy_grid(cell=cell)
    X, Y = nav.shape
    centres = origin + (np.stack(np.meshgrid(np.arange(X), np.arange(Y), indexing="ij"), -1) + 0.5) * cell
    floor = np.isfinite(free_space.floor_height(centres.reshape(-1, 2))).reshape(X, Y)
    xy = np.asarray(poses, np.float64).reshape(-1, 4, 4)[:, :2, 3]  # [N, 2]
    ij = np.floor((xy - origin) / cell).astype(np.int64)
    ok = (ij >= 0).all(1) & (ij[:, 0] < X) & (ij[:, 1] < Y)
    visited = np.zeros_like(nav)
    visited[ij[ok, 0], ij[ok, 1]] = True
    nav_xy = centres[nav]  # [M, 2]
    nav_area, floor_area = float(nav.sum() * cell * cell), float(floor.sum() * cell * cell)
    centre = xy.mean(0) if len(xy) else np.zeros(2)
    return {
        "path_length_m": round(float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum()), 3),
        "spot_radius_m": round(float(np.linalg.norm(xy - centre, axis=1).max()) if len(xy) else 0.0, 3),
        "navigable_area_m2": round(nav_area, 3),
        "floor_area_m2": round(floor_area, 3),
        "visited_cells": int((visited & nav).sum()),
        "navigable_cells": int(nav.sum()),
        "visited_fraction": round(float((visited & nav).sum() / max(1, nav.sum())), 4),
        "extent_fraction": round(min(1.0, _hull_area(xy) / max(_hull_area(nav_xy), 1e-9)), 4),
        "cell_m": cell,
        "freespace_mode": free_space.mode,
    }


def spread_problem(report: dict, frames: int, scene_id: str, policy: str, policy_report: dict | None = None
                   ) -> str | None:
    """Why this spread is degenerate (cause and fix), or None when it is usable."""
    pr = policy_report or {}
    if "scene_coverage" in pr and pr["scene_coverage"] < MIN_COVERAGE_SHARE * pr["coverage_target"]:
        return (f"scene {scene_id!r}: policy=explore saw {pr['scene_coverage']:.0%} of the scene's surface with "
                f"{frames} frames, far below policy.coverage={pr['coverage_target']} (its candidates can see "
                f"{pr['observable_fraction']:.0%} of it); raise frames or lower policy.coverage; if the candidates "
                f"see little of it, the free space is too small (freespace.enclosed, policy.clearance)")
    mode = report["freespace_mode"]
    fix_space = ("set freespace.enclosed=false (a scan without ceiling, or with holes)" if mode == "enclosed" else
                 "lower policy.clearance, or check that the floor faces up and the mesh is in metres")
    if report["floor_area_m2"] > 0 and report["navigable_area_m2"] < MIN_NAV_FRACTION * report["floor_area_m2"]:
        return (f"scene {scene_id!r}: only {report['navigable_area_m2']} m2 of its {report['floor_area_m2']} m2 of "
                f"floor is navigable (free-space mode {mode!r}), so policy={policy} would confine every camera "
                f"to it; {fix_space}")
    if frames >= 4 and report["spot_radius_m"] < MIN_SPOT and report["navigable_area_m2"] > 4 * MIN_SPOT ** 2 * np.pi:
        return (f"scene {scene_id!r}: all {frames} cameras of policy={policy} lie within {report['spot_radius_m']} m "
                f"of one spot (path {report['path_length_m']} m) though {report['navigable_area_m2']} m2 is "
                f"navigable; the policy is stuck: {fix_space}")
    return None
