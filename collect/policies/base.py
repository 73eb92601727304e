"""The camera-policy interface: a policy plans every pose of a collection up front.

Planning in the main process (cheap) and rendering in workers (expensive) keeps a collection
deterministic for a seed whatever the number of workers, and lets a resumed run re-plan the exact
same poses and skip the ones already written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class PolicyError(RuntimeError):
    """The policy cannot produce the poses asked for (no free space, unreachable frame count…)."""


class CameraPolicy(ABC):
    name: str = "policy"

    @abstractmethod
    def plan(self, n: int, seed: int) -> list[np.ndarray]:
        """``n`` cam_to_world 4x4 float64 poses (OpenCV axes, z-up world), deterministic in ``seed``.
        May return fewer than ``n`` only by raising PolicyError with a clear message instead."""

    def report(self) -> dict:
        """Numbers worth recording in the manifest after planning (e.g. coverage reached)."""
        return {}
