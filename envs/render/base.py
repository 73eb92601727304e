"""The renderer interface every backend (Open3D ray casting, habitat-sim, …) implements.

A renderer turns one pinhole camera (``Intrinsics`` + a ``cam_to_world`` pose in the OpenCV
convention) into pixel-aligned arrays, one per modality, with the dtypes of the shard contract:

==========  ===============  ===========================================================
key         array            meaning
==========  ===============  ===========================================================
rgb         uint8 [H, W, 3]  shaded colour, black where no surface is hit
depth       float32 [H, W]   z-depth in metres (distance along the optical axis), 0 = no hit
normal      float32 [H, W, 3] unit normal in the CAMERA frame (x right, y down, z forward),
                             facing the camera; zeros where no hit
semseg      uint16 [H, W]    class id, 0 = unlabelled / no hit
instance    uint16 [H, W]    instance id, 0 = none / no hit
valid       bool [H, W]      a surface was hit (always returned)
==========  ===============  ===========================================================

Collectors and deploy code only talk to this interface, so a backend can be swapped with the
``renderer=`` config group without touching them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numba
import numpy as np

from tst.envs.camera import Intrinsics

RENDER_MODALITIES: tuple[str, ...] = ("rgb", "depth", "normal", "semseg", "instance")


def check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    """The requested modalities as a tuple, failing with the valid names on an unknown one."""
    if isinstance(modalities, str):  # ("rgb") instead of ("rgb",) would iterate characters
        modalities = (modalities,)
    bad = [m for m in modalities if m not in RENDER_MODALITIES]
    if bad:
        raise KeyError(f"renderer cannot produce modalities {bad}; valid names: {list(RENDER_MODALITIES)}")
    return tuple(modalities)


def check_cam_to_world(cam_to_world: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """``cam_to_world`` as float64 [4, 4] after checking it is a rigid pose.

    A scaled or mirrored rotation would silently stretch depth or flip normals, so it fails here,
    naming what is wrong and what a valid pose looks like.
    """
    T = np.asarray(cam_to_world, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"cam_to_world must be a 4x4 matrix (OpenCV camera-to-world), got shape {T.shape}")
    finite, last_row_err, ortho_err, det = _rigid_errors(np.ascontiguousarray(T))  # ~1 µs: it runs every frame
    if not finite:
        raise ValueError("cam_to_world contains NaN or inf; fix the pose that produced it")
    if last_row_err > tol:
        raise ValueError(f"cam_to_world's last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    if ortho_err > tol or det < 0:
        raise ValueError(f"cam_to_world's rotation must be orthonormal with det +1 (a rigid pose); "
                         f"|R^T R - I| = {ortho_err:.2g}, det = {det:.3f}. Build poses with "
                         f"tst.envs.camera.look_at or re-orthonormalise them")
    return T


@numba.njit(cache=True, nogil=True)
def _rigid_errors(T):  # pragma: no cover - compiled
    """(all finite, max |last row - [0,0,0,1]|, max |R^T R - I|, det R) of a float64 [4, 4] pose."""
    finite = True
    for i in range(4):
        for j in range(4):
            if not np.isfinite(T[i, j]):
                finite = False
    last = max(abs(T[3, 0]), abs(T[3, 1]), abs(T[3, 2]), abs(T[3, 3] - 1.0))
    ortho = 0.0
    for i in range(3):
        for j in range(3):
            dot = T[0, i] * T[0, j] + T[1, i] * T[1, j] + T[2, i] * T[2, j]
            ortho = max(ortho, abs(dot - (1.0 if i == j else 0.0)))
    det = (T[0, 0] * (T[1, 1] * T[2, 2] - T[1, 2] * T[2, 1]) - T[0, 1] * (T[1, 0] * T[2, 2] - T[1, 2] * T[2, 0])
           + T[0, 2] * (T[1, 0] * T[2, 1] - T[1, 1] * T[2, 0]))
    return finite, last, ortho, det


class Renderer(ABC):
    """One scene, many cameras. Subclasses build their acceleration structure in ``__init__``."""

    name: str = "renderer"
    modalities: tuple[str, ...] = RENDER_MODALITIES  # what this backend can produce

    @abstractmethod
    def render(self, intrinsics: Intrinsics, cam_to_world: np.ndarray,
               modalities: Sequence[str] = RENDER_MODALITIES) -> dict[str, np.ndarray]:
        """The requested modalities plus ``valid`` for one pinhole camera (see the module table)."""

    def close(self) -> None:
        """Release backend resources (a no-op for backends that hold only arrays)."""
        return None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
