"""``policy=explore``: coverage-driven exploration by greedy next-best-view on a voxel grid of surface.

Random or walked poses over-sample big open areas and miss corners; pretraining on the test space
should see all of it. Explore keeps a voxel grid of the surface SEEN so far and, at every frame,
moves to the candidate view that reveals the most unseen voxels per metre travelled (geodesic
distance on the occupancy grid), until ``coverage`` of the observable surface is reached.

Candidates are eye-height cameras on a ``spacing``-metre lattice of the navigable grid, ``yaws``
headings x ``pitches``; what a candidate sees is found once by casting a ``rays`` = [W, H] grid of
pixel rays with the collector's horizontal field of view and voxelising the hits. "Observable"
surface is the union over all candidates (what an agent on the floor can ever see; the underside of
a table is not). Poses are returned when the target is reached, so ``plan(n)`` may return FEWER than
``n`` poses — the policy's report says how many and which coverage they reach, and also
``scene_coverage``: the share of ALL the scene's surface voxels seen (sampled by area), with
``observable_fraction`` the share the candidates could ever see.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import open3d as o3d
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from tst.envs.camera import Intrinsics, pose_from_yaw_pitch
from tst.envs.freespace import FreeSpace
from tst.envs.policies.base import CameraPolicy, PolicyError
from tst.envs.policies.walk import NavGrid
from tst.envs.render.open3d_renderer import raycasting_scene
from tst.envs.scene import Scene


def view_rays(poses: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """[P, H*W, 6] float32 world rays (origin, direction) through the pixel centres of each pose [P, 4, 4]."""
    d = intrinsics.pixel_rays().reshape(-1, 3).astype(np.float64)  # [H*W, 3] camera frame
    world = np.einsum("pij,rj->pri", poses[:, :3, :3], d)  # [P, H*W, 3]
    origin = np.broadcast_to(poses[:, None, :3, 3], world.shape)
    return np.concatenate([origin, world], axis=-1).astype(np.float32)


def seen_voxels(rc: o3d.t.geometry.RaycastingScene, poses: np.ndarray, intrinsics: Intrinsics,
                voxel: float, origin: np.ndarray, max_range: float = 10.0) -> list[np.ndarray]:
    """Per pose, the sorted unique keys (int64) of the voxels its rays hit within ``max_range`` metres."""
    rays = view_rays(poses, intrinsics)  # [P, R, 6]
    t = rc.cast_rays(o3d.core.Tensor.from_numpy(np.ascontiguousarray(rays)))["t_hit"].numpy()  # [P, R]
    hit = np.isfinite(t) & (t * np.linalg.norm(rays[..., 3:], axis=-1) < max_range)
    pts = rays[..., :3] + np.where(hit, t, 0.0)[..., None] * rays[..., 3:]  # [P, R, 3]; escaping rays (scans) -> origin
    ijk = np.floor((pts - origin) / voxel).astype(np.int64)  # [P, R, 3]
    keys = (ijk[..., 0] * 4096 + ijk[..., 1]) * 4096 + ijk[..., 2]  # [P, R] one int per voxel
    return [np.unique(k[h]) for k, h in zip(keys, hit)]


def surface_voxels(scene: Scene, voxel: float, origin: np.ndarray, per_voxel: float = 8.0,
                   max_points: int = 2_000_000) -> np.ndarray:
    """Sorted unique keys (as ``seen_voxels``) of the voxels the scene's surface passes through, from
    points sampled uniformly by area (about ``per_voxel`` per voxel face): the denominator that says
    how much of the whole scene, not only of what the candidates can see, a plan covered."""
    tri = scene.vertices.astype(np.float64)[scene.faces]  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)  # [F]
    n = int(min(max_points, max(1000, per_voxel * area.sum() / voxel ** 2)))
    rng = np.random.default_rng(0)
    f = rng.choice(len(area), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    pts = tri[f, 0] + u[:, None] * (tri[f, 1] - tri[f, 0]) + v[:, None] * (tri[f, 2] - tri[f, 0])  # [n, 3]
    ijk = np.floor((pts - origin) / voxel).astype(np.int64)
    return np.unique((ijk[:, 0] * 4096 + ijk[:, 1]) * 4096 + ijk[:, 2])


class ExplorePolicy(CameraPolicy):
    name = "explore"

    def __init__(self, scene: Scene, free_space: FreeSpace | None = None, coverage: float = 0.9,
                 height: float = 1.5, hfov: float = 90.0, rays: Sequence[int] = (24, 18), voxel: float = 0.2,
                 spacing: float = 0.5, yaws: int = 8, pitches: Sequence[float] = (0.0, -25.0),
                 clearance: float = 0.25, cell: float = 0.1, travel_weight: float = 0.5) -> None:
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"policy.coverage must be a fraction in (0, 1], got {coverage}")
        if voxel <= 0 or spacing <= 0 or yaws < 1 or len(rays) != 2 or min(rays) < 1:
            raise ValueError(f"policy=explore needs voxel > 0, spacing > 0, yaws >= 1 and rays = [W, H]; got "
                             f"voxel={voxel}, spacing={spacing}, yaws={yaws}, rays={list(rays)}")
        self.scene, self.coverage, self.voxel = scene, float(coverage), float(voxel)
        self.free_space = free_space if free_space is not None else FreeSpace(scene)
        self.travel_weight = float(travel_weight)
        self.intrinsics = Intrinsics.from_fov(int(rays[0]), int(rays[1]), float(hfov))
        self.grid = NavGrid(self.free_space, cell, clearance, top=float(height) + 0.1)
        # candidate positions: a lattice of navigable cells, `spacing` apart
        k = max(1, int(round(spacing / self.grid.cell)))
        cells = self.grid.cells
        nodes = np.flatnonzero((cells[:, 0] % k == k // 2) & (cells[:, 1] % k == k // 2))
        if len(nodes) == 0:
            nodes = np.arange(len(cells))
        xy = self.grid.centre(nodes)  # [N, 2]
        floor = self.free_space.floor_height(xy)
        pos = np.concatenate([xy, (np.nan_to_num(floor) + height)[:, None]], axis=1)  # [N, 3]
        angles = [(2 * np.pi * i / yaws, np.radians(p)) for i in range(yaws) for p in pitches]
        self.cand_node = np.repeat(nodes, len(angles))  # [C] grid node of each candidate
        self.cand_pose = np.stack([pose_from_yaw_pitch(p, y, t) for p in pos for y, t in angles])  # [C, 4, 4]
        rc = raycasting_scene(scene)
        vis = seen_voxels(rc, self.cand_pose, self.intrinsics, self.voxel, scene.bounds[0] - self.voxel)
        keys, inverse = np.unique(np.concatenate(vis), return_inverse=True)
        rows = np.repeat(np.arange(len(vis)), [len(v) for v in vis])
        self.visibility = csr_matrix((np.ones(len(rows), np.float32), (rows, inverse)),
                                     shape=(len(vis), len(keys)))  # [C, V] candidate sees voxel
        self.observable = len(keys)
        self.voxel_keys = keys  # [V] int64 key of each observable voxel
        self.surface_keys = surface_voxels(scene, self.voxel, scene.bounds[0] - self.voxel)
        if self.observable == 0:
            raise PolicyError(f"policy=explore: no surface of scene {scene.scene_id!r} is visible from its "
                              f"{len(nodes)} navigable candidate positions")
        self._report: dict = {}

    def plan(self, n: int, seed: int) -> list[np.ndarray]:
        """Up to ``n`` poses, stopping as soon as ``coverage`` of the observable surface is seen."""
        if n < 0:
            raise ValueError(f"cannot plan a negative number of poses ({n})")
        rng = np.random.default_rng(seed)
        jitter = 1.0 + 1e-3 * rng.random(len(self.cand_pose))  # [C] seed-dependent tie breaking
        unseen = np.ones(self.observable, np.float32)  # [V]
        chosen: list[int] = []
        here = int(self.cand_node[rng.integers(len(self.cand_node))])
        covered = 0.0
        while len(chosen) < n and covered < self.coverage:
            gain = self.visibility @ unseen  # [C] new voxels each candidate would reveal
            if gain.max() <= 0:
                break
            travel = dijkstra(self.grid.graph, indices=here)[self.cand_node]  # [C] metres (cost-weighted)
            score = gain / (1.0 + self.travel_weight * travel) * jitter
            best = int(np.argmax(score))
            chosen.append(best)
            unseen[self.visibility[best].indices] = 0.0
            here = int(self.cand_node[best])
            covered = 1.0 - float(unseen.sum()) / self.observable
        seen = self.voxel_keys[unseen == 0]
        scene_cov = float(np.isin(self.surface_keys, seen).mean())
        observable = float(np.isin(self.surface_keys, self.voxel_keys).mean())
        self._report = {"policy": self.name, "planned": len(chosen), "coverage": round(covered, 4),
                        "scene_coverage": round(scene_cov, 4), "observable_fraction": round(observable, 4),
                        "surface_voxels": int(len(self.surface_keys)),
                        "coverage_target": self.coverage, "target_reached": covered >= self.coverage,
                        "observable_voxels": int(self.observable), "voxel": self.voxel,
                        "candidates": int(len(self.cand_pose))}
        return [self.cand_pose[i].copy() for i in chosen]

    def report(self) -> dict:
        return dict(self._report)
