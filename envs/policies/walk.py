"""``policy=walk``: an agent-like smooth random walk at eye height that leaves rooms through doors.

Random poses make a bag of unrelated snapshots; an embodied agent instead sees a continuous stream:
small forward steps, gradual turns, glances up and down, and it crosses from room to room only
through doorways. The walk picks a random navigable goal (preferably in another room), follows the
shortest path on the occupancy grid (``FreeSpace.occupancy_grid``, costed to keep away from walls),
pulls the path taut, then advances ``step`` metres per frame along it while the heading turns at
most ``turn`` degrees per frame towards a point ahead (it turns on the spot when the path bends
sharply). Every move is checked with ``FreeSpace.segment_free``, so no step passes through geometry.
Poses come from one generator consumed in order, so ``plan(n)`` is a prefix of ``plan(m)``, n < m.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from tst.envs.camera import pose_from_yaw_pitch
from tst.envs.freespace import FreeSpace, points_in_polygon
from tst.envs.policies.base import CameraPolicy, PolicyError
from tst.envs.scene import Scene


class NavGrid:
    """The largest connected navigable region of a scene, with shortest paths between its cells."""

    def __init__(self, free_space: FreeSpace, cell: float, clearance: float, top: float) -> None:
        bottom = min(max(0.2, clearance + 0.05), top)  # the column must start clear of the floor itself
        nav, self.origin, _ = free_space.occupancy_grid(cell, (bottom, top), clearance)
        self.cell = float(cell)
        labels, k = ndimage.label(nav, structure=np.ones((3, 3)))
        if k == 0:
            scene = free_space.scene
            raise PolicyError(f"scene {scene.scene_id!r} has no navigable cell for an agent of clearance "
                              f"{clearance} m up to {top} m above the floor; lower policy.clearance")
        sizes = np.bincount(labels.ravel())[1:]
        self.nav = labels == 1 + int(np.argmax(sizes))  # [X, Y] bool
        self.cells = np.argwhere(self.nav)  # [N, 2] (i, j)
        self.index = -np.ones(self.nav.shape, np.int64)  # [X, Y] cell -> node id
        self.index[tuple(self.cells.T)] = np.arange(len(self.cells))
        # cost grows near obstacles so paths run through the middle of doorways and corridors
        clear = ndimage.distance_transform_edt(self.nav) * self.cell  # [X, Y] metres to a blocked cell
        penalty = 1.0 + 0.5 / np.maximum(clear, self.cell)
        rows, cols, w = [], [], []
        X, Y = self.nav.shape
        for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
            a = self.cells
            b = a + [di, dj]
            ok = (b[:, 0] >= 0) & (b[:, 0] < X) & (b[:, 1] >= 0) & (b[:, 1] < Y)
            a, b = a[ok], b[ok]
            ok = self.nav[b[:, 0], b[:, 1]]
            if di and dj:  # a diagonal move may not cut a blocked corner
                ok &= self.nav[a[:, 0] + di, a[:, 1]] & self.nav[a[:, 0], a[:, 1] + dj]
            a, b = a[ok], b[ok]
            length = np.hypot(di, dj) * self.cell
            cost = length * 0.5 * (penalty[a[:, 0], a[:, 1]] + penalty[b[:, 0], b[:, 1]])
            rows += [self.index[a[:, 0], a[:, 1]]]
            cols += [self.index[b[:, 0], b[:, 1]]]
            w += [cost]
        r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(w)
        n = len(self.cells)
        self.graph = coo_matrix((np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                                shape=(n, n)).tocsr()

    def centre(self, node: np.ndarray | int) -> np.ndarray:
        """[..., 2] world xy of cell centres."""
        return self.origin + (self.cells[node] + 0.5) * self.cell

    def node_of(self, xy: np.ndarray) -> int:
        """Nearest navigable node to a world position."""
        return int(np.argmin(np.linalg.norm(self.centre(np.arange(len(self.cells))) - xy, axis=1)))

    def path(self, start: int, goal: int) -> list[int]:
        _, pred = dijkstra(self.graph, indices=start, return_predecessors=True)
        if pred[goal] < 0 and goal != start:
            return []
        out = [goal]
        while out[-1] != start:
            out.append(int(pred[out[-1]]))
        return out[::-1]

    def line_free(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Every grid cell the straight segment a -> b (world xy) passes through is navigable."""
        k = int(np.ceil(np.linalg.norm(b - a) / (self.cell / 3))) + 1
        pts = a[None] + np.linspace(0, 1, k)[:, None] * (b - a)[None]  # [k, 2]
        ij = np.floor((pts - self.origin) / self.cell).astype(np.int64)
        inside = (ij >= 0).all(1) & (ij[:, 0] < self.nav.shape[0]) & (ij[:, 1] < self.nav.shape[1])
        return bool(inside.all() and self.nav[ij[:, 0], ij[:, 1]].all())

    def taut(self, nodes: list[int]) -> np.ndarray:
        """[W, 2] waypoints: the grid path with every corner dropped that a straight line can skip."""
        pts = self.centre(np.asarray(nodes))
        out, i = [pts[0]], 0
        while i < len(pts) - 1:
            j = len(pts) - 1
            while j > i + 1 and not self.line_free(pts[i], pts[j]):
                j -= 1
            out.append(pts[j])
            i = j
        return np.asarray(out)


def room_index(scene: Scene, xy: np.ndarray) -> np.ndarray:
    """[n] index of the room polygon containing each xy [n, 2], -1 outside every room."""
    idx = np.full(len(xy), -1, np.int64)
    for r, room in enumerate(scene.rooms):
        idx[(idx < 0) & points_in_polygon(xy, np.asarray(room.polygon, np.float64))] = r
    return idx


def wrap(angle: np.ndarray | float) -> np.ndarray | float:
    """Angle difference wrapped into (-pi, pi]."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


class WalkPolicy(CameraPolicy):
    name = "walk"

    def __init__(self, scene: Scene, free_space: FreeSpace | None = None, height: float = 1.5,
                 step: float = 0.25, turn: float = 20.0, pitch: Sequence[float] = (-20.0, 10.0),
                 pitch_step: float = 4.0, clearance: float = 0.25, cell: float = 0.1,
                 other_room: float = 0.8, lookahead: float = 0.6) -> None:
        if step <= 0 or turn <= 0 or clearance <= 0 or cell <= 0:
            raise ValueError(f"policy=walk needs step, turn, clearance and cell > 0; got step={step}, "
                             f"turn={turn}, clearance={clearance}, cell={cell}")
        if not -90.0 < pitch[0] <= pitch[1] < 90.0:
            raise ValueError(f"policy.pitch must be [low, high] degrees inside (-90, 90), got {list(pitch)}")
        self.scene = scene
        self.free_space = free_space if free_space is not None else FreeSpace(scene)
        self.height, self.step, self.turn = float(height), float(step), np.radians(turn)
        self.pitch = np.radians([float(pitch[0]), float(pitch[1])])
        self.pitch_step = np.radians(pitch_step)
        self.clearance, self.other_room, self.lookahead = float(clearance), float(other_room), float(lookahead)
        self.grid = NavGrid(self.free_space, cell, clearance, top=self.height + 0.1)
        self._rooms = room_index(scene, self.grid.centre(np.arange(len(self.grid.cells))))  # [N]
        self._report: dict = {}

    def _goal(self, rng: np.random.Generator, here: int) -> int:
        room = self._rooms[here]
        others = np.flatnonzero(self._rooms != room)
        if len(others) and rng.random() < self.other_room:
            return int(rng.choice(others))
        return int(rng.integers(len(self.grid.cells)))

    def _eye(self, xy: np.ndarray) -> np.ndarray:
        floor = self.free_space.floor_height(xy[None])[0]
        return np.array([xy[0], xy[1], (0.0 if np.isnan(floor) else floor) + self.height])

    def plan(self, n: int, seed: int) -> list[np.ndarray]:
        """``n`` cam_to_world [4, 4] poses along one continuous walk, deterministic in ``seed``."""
        if n < 0:
            raise ValueError(f"cannot plan a negative number of poses ({n})")
        rng = np.random.default_rng(seed)
        here = int(rng.integers(len(self.grid.cells)))
        pos = self._eye(self.grid.centre(here))
        yaw, pitch = rng.uniform(-np.pi, np.pi), 0.0
        poses: list[np.ndarray] = []
        rooms_seen: list[str] = []
        distance, goals, failures, blocked = 0.0, 0, 0, 0
        while len(poses) < n:
            if blocked > 20:
                raise PolicyError(f"policy=walk is stuck at {pos.round(3).tolist()} in scene {self.scene.scene_id!r}: "
                                  f"20 planned steps were blocked (segment_free with radius {self.clearance / 2} m); "
                                  f"raise policy.clearance so the grid keeps further from surfaces")
            nodes = self.grid.path(self.grid.node_of(pos[:2]), self._goal(rng, here))
            goals += 1
            if len(nodes) < 2:
                failures += 1
                if failures > 50:
                    raise PolicyError(f"policy=walk found no path to any goal in scene {self.scene.scene_id!r}")
                continue
            way = self.grid.taut(nodes)  # [W, 2]
            w = 1
            while len(poses) < n and w < len(way):
                to_next = way[w] - pos[:2]
                if np.linalg.norm(to_next) < 1e-6:
                    w += 1
                    continue
                ahead = self._ahead(pos[:2], way, w)
                want = np.arctan2(ahead[1] - pos[1], ahead[0] - pos[0])
                yaw = wrap(yaw + np.clip(wrap(want - yaw), -self.turn, self.turn))
                pitch = float(np.clip(pitch + rng.uniform(-1, 1) * self.pitch_step, *self.pitch))
                if abs(wrap(want - yaw)) < np.radians(60):  # facing roughly the way: step (else turn on the spot)
                    new, w_new = self._advance(pos[:2], way, w)
                    if not all(self.free_space.segment_free(a, b, self.clearance / 2)
                               for a, b in zip([pos, *new[:-1]], new)):
                        blocked += 1
                        break  # replan from here; the step is not taken
                    blocked = 0
                    distance += float(sum(np.linalg.norm(b - a) for a, b in zip([pos, *new[:-1]], new)))
                    pos, w = new[-1], w_new
                poses.append(pose_from_yaw_pitch(pos, yaw, pitch))
                r = room_index(self.scene, pos[None, :2])[0]
                name = self.scene.rooms[r].name if r >= 0 else None
                if name is not None and (not rooms_seen or rooms_seen[-1] != name):
                    rooms_seen.append(name)
            here = self.grid.node_of(pos[:2])
        self._report = {"policy": self.name, "planned": len(poses), "goals": goals,
                        "distance_m": round(distance, 3), "rooms_visited": sorted(set(rooms_seen)),
                        "room_changes": max(0, len(rooms_seen) - 1)}
        return poses

    def _advance(self, xy: np.ndarray, way: np.ndarray, w: int) -> tuple[list[np.ndarray], int]:
        """Walk ``step`` metres along the waypoints from ``xy``: the eye positions of every corner passed
        and of the end point (each sub-move is a straight segment), and the next waypoint index."""
        left, p, out = self.step, xy, []
        while w < len(way):
            seg = way[w] - p
            d = float(np.linalg.norm(seg))
            if d > left:
                out.append(self._eye(p + seg / d * left))
                return out, w
            left, p = left - d, way[w]
            out.append(self._eye(p))
            w += 1
        return out, w

    def _ahead(self, xy: np.ndarray, way: np.ndarray, w: int) -> np.ndarray:
        """The point ``lookahead`` metres further along the waypoints from ``xy`` (towards way[w], …)."""
        left, p = self.lookahead, xy
        for k in range(w, len(way)):
            seg = way[k] - p
            d = float(np.linalg.norm(seg))
            if d >= left:
                return p + seg / d * left
            left, p = left - d, way[k]
        return way[-1]

    def report(self) -> dict:
        return dict(self._report)
