"""Free-space queries: where a camera or an agent may be inside a space.

Camera policies need positions that are inside the building, at a plausible height above the
floor, never inside furniture or walls and never pressed against a surface; walk/explore policies
and top-down maps need a 2-D map of where an agent can stand. All of it is answered with ray casts
and exact point-to-mesh distances on one Open3D ``RaycastingScene``.

Three tests decide whether a point is free:

- **outside** the space: with ``scene.rooms``, the point is in no room polygon between that
  room's floor and ceiling. Without rooms it depends on whether the scene is *enclosed*:
  an enclosed scene (a modelled building) needs every ray (16 horizontal, up, down) to hit
  within ``max_dist``; an *open* scene (real scans: no ceiling, holes in floor and walls; a
  block-out floor; a room with an open side) needs an upward-facing floor under the point — the
  floor's footprint is the scanned area. ``enclosed="auto"`` decides from probes over the floor:
  when more than ``OPEN_FRACTION`` of them see a ray escape, the scene is open (logged);
- **inside** geometry: along each of 15 rays the hits are walked outwards with +1 for leaving a
  surface (its back) and -1 for entering one (its front), coincident hits taken exits first (touching
  parts share faces: a plinth on the floor, a blanket on a mattress); a ray votes "inside" when that running winding count ever exceeds 0
  (the point left more closed objects than it entered). A majority of votes means inside. Unlike
  "the first hit is a back face", this holds inside overlapping or touching parts (a mattress on
  a frame under a blanket) and is unaffected by the room around the object;
- **too close**: the distance to the nearest surface is below the clearance.
"""

from __future__ import annotations

import logging

import numpy as np
import open3d as o3d
from scipy import ndimage

from tst.envs.render.base import check_cam_to_world
from tst.envs.render.open3d_renderer import face_normals, raycasting_scene
from tst.envs.scene import Room, Scene

log = logging.getLogger(__name__)
OPEN_FRACTION = 0.05  # auto: open when more floor probes than this see an enclosure ray escape
ENCLOSED_CHOICES = ("auto", "true", "false")


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


def parse_enclosed(value: bool | str | None) -> bool | None:
    """``freespace.enclosed`` as given (auto | true | false, or a bool) -> True, False or None (auto)."""
    if value is None or isinstance(value, bool):
        return value
    key = str(value).strip().lower()
    if key not in ENCLOSED_CHOICES:
        raise ValueError(f"freespace.enclosed={value!r} is invalid; choose one of {list(ENCLOSED_CHOICES)} "
                         f"(auto decides from rays escaping over the floor)")
    return None if key == "auto" else key == "true"


class FreeSpace:
    def __init__(self, scene: Scene, threads: int = 0, max_dist: float = 30.0, enclosed: bool | str = "auto"):
        self.scene = scene
        self.threads = int(threads)
        self.max_dist = float(max_dist)
        self._rc = raycasting_scene(scene, self.threads)
        self._enclose_dirs = np.concatenate([_horizontal_dirs(16), [[0, 0, 1]], [[0, 0, -1]]]).astype(np.float32)
        self._vote_dirs = _sphere_dirs(15)
        self._normals = face_normals(scene)  # [F, 3] unit normals from the winding
        self._face_nz = self._normals[:, 2]  # [F] z of each face's unit normal
        choice = parse_enclosed(enclosed)
        self.escape_fraction: float | None = None
        if scene.rooms:
            self.enclosed, why = True, f"{len(scene.rooms)} room outlines bound it"
        elif choice is not None:
            self.enclosed, why = choice, "set by freespace.enclosed"
        else:
            self.escape_fraction = self._probe_escapes()
            self.enclosed = self.escape_fraction <= OPEN_FRACTION
            why = (f"auto: rays escape from {self.escape_fraction:.0%} of floor probes "
                   f"(open above {OPEN_FRACTION:.0%}; override with freespace.enclosed=true|false)")
        self.mode = "rooms" if scene.rooms else ("enclosed" if self.enclosed else "open")
        log.info("free space of scene %r: %s (%s)", scene.scene_id,
                 {"rooms": "inside room outlines", "enclosed": "enclosed: every ray must hit",
                  "open": "open: positions over the floor"}[self.mode], why)

    def _probe_escapes(self, k: int = 24) -> float:
        """Fraction of up to k*k probes over the floor (1.2 m up, below the top) whose enclosure rays escape."""
        lo, hi = self.scene.bounds
        xy = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], k + 2)[1:-1], np.linspace(lo[1], hi[1], k + 2)[1:-1],
                                  indexing="ij"), -1).reshape(-1, 2)
        floor = self.floor_height(xy)
        ok = np.isfinite(floor)
        if not ok.any():
            return 1.0
        z = np.minimum(floor[ok] + 1.2, (floor[ok] + hi[2]) / 2)
        p = np.concatenate([xy[ok], z[:, None]], axis=1).astype(np.float32)
        return float(((self._cast(p, self._enclose_dirs)["t"] > self.max_dist).any(axis=1)).mean())

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
        """[n] fraction of rays from each point whose running winding count (+1 leaving a surface
        through its back, -1 entering through its front; of coincident hits the exits first) ever exceeds 0."""
        p = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        n, k = len(p), len(self._vote_dirs)
        if n == 0:
            return np.zeros(0)
        rays = np.empty((n, k, 6), dtype=np.float32)
        rays[:, :, :3], rays[:, :, 3:] = p[:, None, :], self._vote_dirs[None]
        lx = self._rc.list_intersections(o3d.core.Tensor.from_numpy(rays.reshape(-1, 6)), nthreads=self.threads)
        ray = lx["ray_ids"].numpy().astype(np.int64)  # [m] one entry per intersection
        if len(ray) == 0:
            return np.zeros(n)
        t = lx["t_hit"].numpy().astype(np.float64)
        dot = np.einsum("mc,mc->m", self._normals[lx["primitive_ids"].numpy().astype(np.int64)],
                        self._vote_dirs[ray % k])
        order = np.lexsort((t, ray))
        ray, t, sign = ray[order], t[order], np.sign(dot[order])
        start = np.r_[True, (ray[1:] != ray[:-1]) | (t[1:] - t[:-1] > 1e-4)]  # a new group of coincident hits
        group_sum = np.add.reduceat(sign, np.flatnonzero(start))  # [g]
        group_exits = np.add.reduceat((sign > 0).astype(np.float64), np.flatnonzero(start))  # [g]
        group_ray = ray[start]  # [g]
        before = np.cumsum(group_sum) - group_sum  # running total before each group (all rays)
        first = np.r_[True, group_ray[1:] != group_ray[:-1]]  # first group of each ray
        before -= before[first][np.cumsum(first) - 1]  # ... counted from each ray's own origin
        best = np.zeros(n * k)
        # exits of a group count before its entries: a part resting on another (or on the floor) is left
        np.maximum.at(best, group_ray, before + group_exits)  # [n*k] highest winding count along each ray
        return (best > 0.5).reshape(n, k).mean(axis=1)

    def _room_of(self, points: np.ndarray) -> np.ndarray:
        """[n] index of the room containing each point (between its floor and ceiling), -1 for none."""
        idx = np.full(len(points), -1, dtype=np.int64)
        for i, room in enumerate(self.scene.rooms):
            inside = points_in_polygon(points[:, :2], np.asarray(room.polygon, dtype=np.float64))
            inside &= (points[:, 2] >= room.floor_z) & (points[:, 2] <= room.ceiling_z)
            idx[(idx < 0) & inside] = i
        return idx

    def _escaped(self, points: np.ndarray) -> np.ndarray:
        """[n] number of enclosure rays (16 horizontal, up, down) that escape beyond ``max_dist``."""
        return (self._cast(points, self._enclose_dirs)["t"] > self.max_dist).sum(axis=1)

    def _diagnose(self, points: np.ndarray, clearance: float) -> dict[str, np.ndarray]:
        """Per point [n]: outside / inside / too_close flags and the numbers behind them."""
        p = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        dist = self.distance(p)
        votes = self._inside_votes(p)
        escaped = np.zeros(len(p), dtype=np.int64)
        if self.scene.rooms:
            outside = self._room_of(p.astype(np.float64)) < 0
        elif self.enclosed:
            escaped = self._escaped(p)
            outside = escaped > 0
        else:  # open: the floor's footprint is the space
            outside = ~(self.floor_height(p[:, :2]) <= p[:, 2] + 1e-4)
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
            raise PoseError("inside_geometry", f"{where} is inside geometry: along {d['votes']:.0%} of "
                            f"{len(self._vote_dirs)} rays from it, it leaves more closed surfaces than it enters "
                            f"(nearest surface {d['dist']:.3f} m away)")
        if d["outside"]:
            if self.scene.rooms:
                names = [r.name for r in self.scene.rooms]
                raise PoseError("outside_building", f"{where} is outside the building: it lies in none of "
                                f"the rooms {names} between their floor and ceiling")
            if not self.enclosed:
                raise PoseError("outside_building", f"{where} is outside the scanned space: no upward-facing "
                                f"floor lies under it")
            raise PoseError("outside_building", f"{where} is outside the building: {d['escaped']} of "
                            f"{len(self._enclose_dirs)} rays from it escape further than {self.max_dist} m "
                            f"(freespace.enclosed=false accepts any position over the floor)")
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

        Candidates are drawn in rounds of 256 (room footprints weighted by area when the scene has rooms,
        the scene's xy bounds otherwise) and filtered by ``is_free``; after ``max_rounds`` rounds
        without enough hits, NoFreeSpaceError reports what rejected the candidates.
        """
        if n < 0 or height[0] > height[1] or clearance < 0:
            raise ValueError(f"sample_positions needs n >= 0, height lo <= hi and clearance >= 0; "
                             f"got n={n}, height={height}, clearance={clearance}")
        found: list[np.ndarray] = []
        total = 0
        tally = {"no_floor": 0, "outside": 0, "inside": 0, "too_close": 0}
        batch = 256  # fixed, so sample_positions(n) is a prefix of sample_positions(m) for the same generator
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
                f"candidates (height {height} m above the floor, clearance {clearance} m, free-space mode "
                f"{self.mode!r}); rejections: {tally}. Lower the clearance or height, or check that the scene is "
                f"an indoor space with a floor (its rooms: {[r.name for r in self.scene.rooms] or 'none'}); "
                f"'outside' in mode 'enclosed' means rays escape: set freespace.enclosed=false "
                f"(FreeSpace(scene, enclosed=False)) for a scan without walls or ceiling; 'inside' means the "
                f"points lie within closed geometry: normals must face the free space")
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
