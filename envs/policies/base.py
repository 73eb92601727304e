"""The camera-policy interface: a policy plans every pose of a collection up front.

Planning in the main process (cheap) and rendering in workers (expensive) keeps a collection
deterministic for a seed whatever the number of workers, and lets a resumed run re-plan the exact
same poses and skip the ones already written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class PolicyError(RuntimeError):
    """The policy cannot produce the poses asked for (no free space, unreachable frame count…).

    ``poses`` holds the part it could plan; the collector writes those, then stops with the message.
    """

    def __init__(self, message: str, poses: list[np.ndarray] | None = None) -> None:
        super().__init__(message)
        self.poses = list(poses or [])


class CameraPolicy(ABC):
    name: str = "policy"

    @abstractmethod
    def plan(self, n: int, seed: int) -> list[np.ndarray]:
        """``n`` cam_to_world 4x4 float64 poses (OpenCV axes, z-up world), deterministic in ``seed``.

        A policy that cannot reach ``n`` raises PolicyError carrying the poses it found. A policy with
        its own stopping rule (explore's coverage target) may return fewer and says so in report()
        with ``target_reached: true``."""

    def report(self) -> dict:
        """Numbers worth recording in the manifest after planning (e.g. coverage reached)."""
        return {}
