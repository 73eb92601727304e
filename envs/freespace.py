"""Free-space queries: where a camera or an agent may be inside a space.

Camera policies need positions that are inside the building, at a plausible height above the
floor, never inside furniture or walls and never pressed against a surface; walk/explore policies
and top-down maps need a 2-D map of where an agent can stand. All of it is answered with ray casts
and exact point-to-mesh distances on one Open3D ``RaycastingScene``.

Three tests decide whether a point is free:

- **outside** the building: with ``scene.rooms``, the point is in no room polygon between that
  room's floor and ceiling; without rooms, a ray in one of several horizontal directions, or up,
  or down, escapes further than ``max_dist`` (the point is not enclosed). Open scenes (a block-out
  floor with furniture, a scan without walls or ceiling) pass ``enclosed=False``: then only the
  ray down must find a floor;
- **inside** geometry: most rays from the point in a fixed set of directions hit the BACK of a
  triangle (closed objects are wound with normals pointing out, rooms with normals pointing in);
- **too close**: the distance to the nearest surface is below the clearance.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d
from scipy import ndimage

from tst.envs.render.base import check_cam_to_world
from tst.envs.render.open3d_renderer import INVALID_ID, face_normals, raycasting_scene
from tst.envs.scene import Room, Scene


class NoFreeSpaceError(RuntimeError):
    """No free position could be found in the bounded number of tries."""


class PoseError(ValueError):
    """A camera pose is unusable; ``reason`` is "inside_geometry", "outside_building" or "too_close"."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _horizontal_dirs(k: int = 16) -> np.ndarray:
    """[k, 3] unit horizontal directions, offset half a step so none runs along an axis-aligned edge."""
    a = (np.arange(k) + 0.5) * 2 * np.pi / k
    return np.stack([np.cos(a), np.sin(a), np.zeros(k)], axis=1).astype(np.float32)


def _sphere_dirs(k: int = 15) -> np.ndarray:
    """[k, 3] unit directions spread over the sphere (Fibonacci lattice); odd k so votes never tie."""
    i = np.arange(k) + 0.5
    z = 1 - 2 * i / k
    r = np.sqrt(1 - z * z)
    phi = i * np.pi * (3 - np.sqrt(5))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1).astype(np.float32)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """[n] bool: even-odd test of points ``xy`` [n, 2] against a closed ``polygon`` [m, 2]."""
    x, y = xy[:, 0:1], xy[:, 1:2]  # [n, 1]
    x0, y0 = polygon[:, 0], polygon[:, 1]  # [m]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)  # [n, m] the edge straddles the horizontal line through the point
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = x0 + (y - y0) * (x1 - x0) / (y1 - y0)  # [n, m] where that line meets the edge
    return ((crosses & (x < xs)).sum(axis=1) % 2) == 1


def _polygon_area(p: np.ndarray) -> float:
    return float(abs(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))) / 2)


class FreeSpace:
    def __init__(self, scene: Scene, threads: int = 0, max_dist: float = 30.0, enclosed: bool = True):
        self.scene = scene
        self.threads = int(threads)
        self.max_dist = float(max_dist)
        self.enclosed = bool(enclosed)
        self._rc = raycasting_scene(scene, self.threads)
        down = np.array([[0, 0, -1]], dtype=np.float32)
        self._enclose_dirs = (np.concatenate([_horizontal_dirs(16), [[0, 0, 1]], down]).astype(np.float32)
                              if self.enclosed else down)
        self._vote_dirs = _sphere_dirs(15)
        self._face_nz = face_normals(scene)[:, 2]  # [F] z of each face's unit normal

    # ------------------------------------------------------------------ raw queries
    def _cast(self, origins: np.ndarray, dirs: np.ndarray) -> dict[str, np.ndarray]:
        """Cast every origin [n, 3] along every direction [k, 3]; results shaped [n, k]."""
        n, k = len(origins), len(dirs)
        rays = np.empty((n, k, 6), dtype=np.float32)
        rays[:, :, :3] = origins[:, None, :]
        rays[:, :, 3:] = dirs[None, :, :]
        out = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=self.threads)
        return {"t": out["t_hit"].numpy(), "normal": out["primitive_normals"].numpy(),
                "prim": out["primitive_ids"].numpy()}

    def distance(self, points: np.ndarray) -> np.ndarray:
        """[n] float32 unsigned distance from each point [n, 3] to the nearest surface."""
        q = np.ascontiguousarray(np.asarray(points, dtype=np.float32).reshape(-1, 3))
        return self._rc.compute_distance(o3d.core.Tensor.from_numpy(q), nthreads=self.threads).numpy()

    def _inside_votes(self, points: np.ndarray) -> np.ndarray:
        """[n] fraction of rays from each point that hit the back of a triangle."""
        hit = self._cast(points, self._vote_dirs)
        back = (np.einsum("nkc,kc->nk", hit["normal"], self._vote_dirs) > 0) & (hit["prim"] != INVALID_ID)
        return back.mean(axis=1)

    def _room_of(self, points: np.ndarray) -> np.ndarray:
        """[n] index of the room containing each point (between its floor and ceiling), -1 for none."""
        idx = np.full(len(points), -1, dtype=np.int64)
        for i, room in enumerate(self.scene.rooms):
            inside = points_in_polygon(points[:, :2], np.asarray(room.polygon, dtype=np.float64))
            inside &= (points[:, 2] >= room.floor_z) & (points[:, 2] <= room.ceiling_z)
            idx[(idx < 0) & inside] = i
        return idx

    def _escaped(self, points: np.ndarray) -> np.ndarray:
        """[n] number of enclosure rays (16 horizontal, up, down; only down when not ``enclosed``) that
        escape beyond ``max_dist``."""
        return (self._cast(points, self._enclose_dirs)["t"] > self.max_dist).sum(axis=1)

    def _diagnose(self, points: np.ndarray, clearance: float) -> dict[str, np.ndarray]:
        """Per point [n]: outside / inside / too_close flags and the numbers behind them."""
        p = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        dist = self.distance(p)
        votes = self._inside_votes(p)
        if self.scene.rooms:
            outside = self._room_of(p.astype(np.float64)) < 0
            escaped = np.zeros(len(p), dtype=np.int64)
        else:
            escaped = self._escaped(p)
            outside = escaped > 0
        return {"outside": outside, "inside": votes > 0.5, "too_close": dist < clearance,
                "dist": dist, "votes": votes, "escaped": escaped}

    # ------------------------------------------------------------------ public API
    def is_free(self, points: np.ndarray, clearance: float = 0.3) -> np.ndarray:
        """[n] bool: inside the building, not inside geometry, at least ``clearance`` from every surface."""
        d = self._diagnose(points, clearance)
        return ~(d["outside"] | d["inside"] | d["too_close"])

    def check_pose(self, cam_to_world: np.ndarray, clearance: float = 0.05) -> None:
        """Raise PoseError naming why a camera at this pose is unusable; return None when it is fine."""
        T = check_cam_to_world(cam_to_world)
        p = T[:3, 3]
        d = {k: v[0] for k, v in self._diagnose(p[None], clearance).items()}
        where = f"camera at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) in scene {self.scene.scene_id!r}"
        if d["inside"]:
            raise PoseError("inside_geometry", f"{where} is inside geometry: {d['votes']:.0%} of "
                            f"{len(self._vote_dirs)} rays from it hit the back of a surface "
                            f"(nearest surface {d['dist']:.3f} m away)")
        if d["outside"]:
            if self.scene.rooms:
                names = [r.name for r in self.scene.rooms]
                raise PoseError("outside_building", f"{where} is outside the building: it lies in none of "
                                f"the rooms {names} between their floor and ceiling")
            raise PoseError("outside_building", f"{where} is outside the building: {d['escaped']} of "
                            f"{len(self._enclose_dirs)} rays from it escape further than {self.max_dist} m")
        if d["too_close"]:
            raise PoseError("too_close", f"{where} is too close to a surface: {d['dist']:.3f} m "
                            f"< clearance {clearance} m")

    def floor_height(self, xy: np.ndarray) -> np.ndarray:
        """[n] z of the floor under each point ``xy`` [n, 2]: the lowest upward-facing surface, nan if none.

        Every intersection along a vertical line is listed (not just the first hit), so a table
        standing on the floor, whose bottom is coplanar with it, cannot hide the floor, the table top
        above never counts as the floor and the underside of a floor slab (facing down) is skipped.
        Meshes wound the wrong way (no upward face) fall back to the lowest horizontal surface.
        """
        xy = np.asarray(xy, dtype=np.float32).reshape(-1, 2)
        n = len(xy)
        z0 = float(self.scene.bounds[0, 2]) - 1.0
        rays = np.zeros((n, 6), dtype=np.float32)
        rays[:, :2], rays[:, 2], rays[:, 5] = xy, z0, 1.0
        lx = self._rc.list_intersections(o3d.core.Tensor.from_numpy(rays), nthreads=self.threads)
        ray = lx["ray_ids"].numpy().astype(np.intp)  # [m] one entry per intersection
        z = z0 + lx["t_hit"].numpy()  # [m]
        nz = self._face_nz[lx["primitive_ids"].numpy()]  # [m]
        up = np.full(n, np.inf, dtype=np.float32)
        np.minimum.at(up, ray[nz > 0.7], z[nz > 0.7])
        flat = np.full(n, np.inf, dtype=np.float32)
        np.minimum.at(flat, ray[np.abs(nz) > 0.7], z[np.abs(nz) > 0.7])
        floor = np.where(np.isfinite(up), up, flat)
        floor[~np.isfinite(floor)] = np.nan
        return floor

    def sample_positions(self, n: int, rng: np.random.Generator, height: tuple[float, float] = (0.9, 1.8),
                         clearance: float = 0.3, max_rounds: int = 50) -> np.ndarray:
        """[n, 3] float64 free camera positions at ``height`` above the floor under them.

        Candidates are drawn in rounds (room footprints weighted by area when the scene has rooms,
        the scene's xy bounds otherwise) and filtered by ``is_free``; after ``max_rounds`` rounds
        without enough hits, NoFreeSpaceError reports what rejected the candidates.
        """
        if n < 0 or height[0] > height[1] or clearance < 0:
            raise ValueError(f"sample_positions needs n >= 0, height lo <= hi and clearance >= 0; "
                             f"got n={n}, height={height}, clearance={clearance}")
        found: list[np.ndarray] = []
        total = 0
        tally = {"no_floor": 0, "outside": 0, "inside": 0, "too_close": 0}
        batch = max(64, 4 * n)
        for _ in range(max_rounds):
            if sum(len(f) for f in found) >= n:
                break
            xy = self._candidate_xy(batch, rng)  # [b, 2]
            total += batch
            floor = self.floor_height(xy)
            ok = np.isfinite(floor)
            tally["no_floor"] += int((~ok).sum())
            z = floor + rng.uniform(height[0], height[1], size=batch)
            p = np.concatenate([xy, z[:, None]], axis=1)[ok]  # [m, 3]
            d = self._diagnose(p, clearance)
            for k in ("outside", "inside", "too_close"):
                tally[k] += int(d[k].sum())
            found.append(p[~(d["outside"] | d["inside"] | d["too_close"])].astype(np.float64))
        out = np.concatenate(found)[:n] if found else np.zeros((0, 3))
        if len(out) < n:
            raise NoFreeSpaceError(
                f"found only {len(out)} of {n} free positions in scene {self.scene.scene_id!r} after {total} "
                f"candidates (height {height} m above the floor, clearance {clearance} m); rejections: "
                f"{tally}. Lower the clearance or height, or check that the scene is an indoor space with a "
                f"floor (its rooms: {[r.name for r in self.scene.rooms] or 'none'}); 'outside' without rooms "
                f"means rays escape: use FreeSpace(scene, enclosed=False) for a scene without walls or ceiling; "
                f"'inside' means most rays hit the backs of faces: normals must face the free space")
        return out

    def _candidate_xy(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """[k, 2] candidate positions: uniform in room footprints (by area) or in the scene bounds."""
        rooms: list[Room] = self.scene.rooms
        if not rooms:
            lo, hi = self.scene.bounds[:, :2]
            return rng.uniform(lo, hi, size=(k, 2))
        area = np.array([_polygon_area(np.asarray(r.polygon, np.float64)) for r in rooms])
        which = rng.choice(len(rooms), size=k, p=area / area.sum())
        out = np.empty((k, 2))
        for i, room in enumerate(rooms):
            sel = np.flatnonzero(which == i)
            poly = np.asarray(room.polygon, np.float64)
            lo, hi = poly.min(0), poly.max(0)
            pts = np.zeros((0, 2))
            while len(pts) < len(sel):  # rejection sampling: polygon covers a fair share of its bbox
                c = rng.uniform(lo, hi, size=(2 * len(sel) + 8, 2))
                pts = np.concatenate([pts, c[points_in_polygon(c, poly)]])
            out[sel] = pts[:len(sel)]
        return out

    def segment_free(self, a: np.ndarray, b: np.ndarray, radius: float) -> bool:
        """Whether a straight move from ``a`` to ``b`` [3] keeps ``radius`` from every surface.

        Distances are checked at points spaced radius/2 apart, so the path may graze a surface by
        at most radius/4 between two samples; a ray cast from a to b catches walls of any thinness,
        and both ends must lie outside closed geometry.
        """
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        seg = b - a
        length = float(np.linalg.norm(seg))
        k = max(2, int(np.ceil(length / max(radius / 2, 1e-3))) + 1)
        pts = a[None] + np.linspace(0, 1, k, dtype=np.float32)[:, None] * seg[None]  # [k, 3]
        if (self.distance(pts) < radius).any() or (self._inside_votes(pts[[0, -1]]) > 0.5).any():
            return False
        if length > 0:
            t = self._cast(a[None], (seg / length)[None])["t"][0, 0]
            return bool(t > length)
        return True

    def occupancy_grid(self, cell: float = 0.1, z_range: tuple[float, float] = (0.2, 1.6),
                       radius: float | None = None, doorway: float = 0.5) -> tuple[np.ndarray, np.ndarray, float]:
        """Where an agent can stand: (navigable bool [X, Y], origin_xy [2], cell).

        Cell (i, j) covers x in origin_x + [i, i+1) * cell, y likewise. It is navigable when there is
        a floor under its centre, the column from floor + z_range[0] to floor + z_range[1] keeps
        ``radius`` (default cell/2: the agent's half-width) from every surface, sampled every cell/2,
        and the column's middle is inside the building and not inside geometry.

        Room outlines (synth apartments, many scans) stop at the wall's inner face, so a doorway lies
        in no room; a clear cell outside every room still counts when it is within ``doorway`` metres
        of a navigable cell in a room (walls up to that thick), which keeps the rooms connected.
        """
        radius = cell / 2 if radius is None else float(radius)
        if cell <= 0 or radius < 0 or z_range[0] > z_range[1] or doorway < 0:
            raise ValueError(f"occupancy_grid needs cell > 0, radius >= 0, z_range lo <= hi, doorway >= 0; "
                             f"got cell={cell}, radius={radius}, z_range={z_range}, doorway={doorway}")
        lo, hi = self.scene.bounds[:, :2]
        X, Y = (max(1, int(np.ceil((hi[i] - lo[i]) / cell))) for i in range(2))
        origin = lo.astype(np.float64)
        cx = origin[0] + (np.arange(X) + 0.5) * cell
        cy = origin[1] + (np.arange(Y) + 0.5) * cell
        xy = np.stack(np.meshgrid(cx, cy, indexing="ij"), axis=-1).reshape(-1, 2)  # [X*Y, 2]
        floor = self.floor_height(xy)  # [X*Y], nan where nothing is below
        ok = np.isfinite(floor)
        zs = np.linspace(z_range[0], z_range[1], int(np.ceil((z_range[1] - z_range[0]) / (cell / 2))) + 1)
        col = np.concatenate([np.repeat(xy[ok], len(zs), 0),
                              (floor[ok, None] + zs[None]).reshape(-1, 1)], axis=1)  # [m*k, 3]
        clear = (self.distance(col).reshape(-1, len(zs)) >= radius).all(axis=1)
        mid = np.concatenate([xy[ok], floor[ok, None] + (z_range[0] + z_range[1]) / 2], axis=1)
        d = self._diagnose(mid, 0.0)
        free, indoors = np.zeros(len(xy), dtype=bool), np.zeros(len(xy), dtype=bool)
        free[ok] = clear & ~d["inside"]
        indoors[ok] = ~d["outside"]
        free, indoors = free.reshape(X, Y), indoors.reshape(X, Y)
        nav = free & indoors
        if self.scene.rooms and nav.any():
            near_room = ndimage.distance_transform_edt(~nav) * cell <= doorway + 1e-9  # [X, Y]
            nav = free & (indoors | near_room)
        return nav, origin, float(cell)
