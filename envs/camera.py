"""Pinhole cameras in the OpenCV convention (x right, y down, z forward), poses as cam_to_world.

Pixel (u, v) has its centre at (u + 0.5, v + 0.5) in the continuous image plane, so
``cx = width / 2`` puts the principal point in the middle of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = 90.0) -> Intrinsics:
        """Square pixels, principal point at the image centre, horizontal field of view in degrees."""
        fx = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2)
        return cls(fx=float(fx), fy=float(fx), cx=width / 2.0, cy=height / 2.0, width=int(width), height=int(height))

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> Intrinsics:
        return cls(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]), int(d["height"]))

    def pixel_rays(self) -> np.ndarray:
        """[H, W, 3] float32 camera-frame directions with z = 1, so ray parameter t equals z-depth."""
        u = (np.arange(self.width, dtype=np.float32) + 0.5 - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float32) + 0.5 - self.cy) / self.fy
        uu, vv = np.meshgrid(u, v)
        return np.stack([uu, vv, np.ones_like(uu)], axis=-1)


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """cam_to_world 4x4 (OpenCV axes) for a camera at ``eye`` looking at ``target`` in a z-up world."""
    up = np.asarray(up, dtype=np.float64)
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-8:  # looking straight up/down: any horizontal x works
        x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def pose_from_yaw_pitch(position: np.ndarray, yaw: float, pitch: float = 0.0) -> np.ndarray:
    """cam_to_world for a level camera at ``position`` with heading ``yaw`` (radians from +x towards +y)
    and ``pitch`` (radians, positive looks up)."""
    d = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    return look_at(np.asarray(position, dtype=np.float64), np.asarray(position, dtype=np.float64) + d)
