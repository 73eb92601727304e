"""``policy=random``: camera poses drawn uniformly over the free, navigable space of a scene.

Positions come from ``FreeSpace.sample_positions`` (inside rooms, at a height above the floor
under them, away from every surface), the heading is uniform in [0, 2π) and the pitch uniform in a
range given in degrees. Poses are planned in fixed blocks, each from its own ``(seed, block)``
generator, so ``plan(n)`` is a prefix of ``plan(m)`` for ``n < m``: extending a collection with a
larger ``frames=`` keeps every pose already rendered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tst.envs.camera import pose_from_yaw_pitch
from tst.envs.freespace import FreeSpace, NoFreeSpaceError
from tst.envs.policies.base import CameraPolicy, PolicyError
from tst.envs.scene import Scene

BLOCK = 64  # poses per independently seeded block


class RandomPolicy(CameraPolicy):
    name = "random"

    def __init__(self, scene: Scene, free_space: FreeSpace | None = None, height: Sequence[float] = (0.9, 1.8),
                 pitch: Sequence[float] = (-30.0, 15.0), clearance: float = 0.3) -> None:
        self.scene = scene
        self.free_space = free_space if free_space is not None else FreeSpace(scene)
        self.height = (float(height[0]), float(height[1]))
        self.pitch = (float(pitch[0]), float(pitch[1]))
        self.clearance = float(clearance)
        if not self.height[0] <= self.height[1]:
            raise ValueError(f"policy.height must be [low, high] metres with low <= high, got {list(height)}")
        if not -90.0 < self.pitch[0] <= self.pitch[1] < 90.0:
            raise ValueError(f"policy.pitch must be [low, high] degrees inside (-90, 90) with low <= high, "
                             f"got {list(pitch)}")
        if self.clearance < 0:
            raise ValueError(f"policy.clearance must be >= 0 metres, got {clearance}")
        self._planned = 0

    def _block(self, seed: int, block: int, k: int) -> list[np.ndarray]:
        """The first ``k`` <= BLOCK poses of a block: positions and angles come from separate generators
        and sample_positions is prefix-stable, so asking for fewer changes none of them."""
        rng = np.random.default_rng([seed, block])
        try:
            pos = self.free_space.sample_positions(k, rng, height=self.height, clearance=self.clearance)  # [k, 3]
        except NoFreeSpaceError as e:
            raise PolicyError(f"policy=random cannot place cameras in scene {self.scene.scene_id!r}: {e}") from e
        angles = np.random.default_rng([seed, block, 1])
        yaw = angles.uniform(0.0, 2 * np.pi, size=BLOCK)[:k]  # [k] radians
        pitch = np.deg2rad(angles.uniform(*self.pitch, size=BLOCK))[:k]  # [k] radians, positive looks up
        return [pose_from_yaw_pitch(p, y, t) for p, y, t in zip(pos, yaw, pitch)]

    def plan(self, n: int, seed: int) -> list[np.ndarray]:
        """``n`` cam_to_world [4, 4] poses; pose ``i`` depends only on ``(seed, i)``; FreeSpace is asked
        for exactly ``n`` positions."""
        if n < 0:
            raise ValueError(f"cannot plan a negative number of poses ({n})")
        poses: list[np.ndarray] = []
        for block in range((n + BLOCK - 1) // BLOCK):
            poses += self._block(seed, block, min(BLOCK, n - block * BLOCK))
        self._planned = n
        return poses

    def report(self) -> dict:
        return {"policy": self.name, "planned": self._planned, "height": list(self.height),
                "pitch_deg": list(self.pitch), "clearance": self.clearance}
