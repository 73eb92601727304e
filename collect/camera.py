"""The camera a space's views are seen through: white balance, response curve, blur and sensor noise on the rgb.

    tst collect … camera.white_balance=[1.15,1.0,0.75] camera.gamma=0.7 camera.blur=0.8 camera.noise=0.03

Why: a robot's camera is not the one the labelled spaces were photographed with, and a scan's colours carry
its own camera and lighting. Rendering the test space through another camera is how to ask, without a real
scan, whether a head trained on other spaces survives that gap (the settings above took the demo's semseg
heads on development space 0 from 21.9-23.1 to 9.0-9.5 mIoU) and what the test space's own views can
recover (``tst.transfer.space_colour``). The camera acts on the ``rgb`` member alone: depth, normals,
labels, captions and derived members describe the scene as it is, as an annotator would. The defaults are
the identity, and then nothing is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class Camera:
    """rgb -> clip(gains * rgb) ** gamma, blurred, plus noise (rgb in [0, 1]); in that order, as light
    meets a sensor: white balance and response, the optics, then the read-out noise."""
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel gains (r, g, b)
    gamma: float = 1.0  # response curve exponent (< 1 brightens the darks)
    blur: float = 0.0  # Gaussian sigma, pixels
    noise: float = 0.0  # Gaussian sigma, in [0, 1] units

    @property
    def identity(self) -> bool:
        return self == Camera()

    def apply(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 [H, W, 3] -> uint8 [H, W, 3] as this camera sees it; ``rng`` draws the noise."""
        if self.identity:
            return rgb
        x = rgb.astype(np.float32) / 255.0 * np.asarray(self.white_balance, np.float32)
        x = np.clip(x, 0.0, 1.0)
        if self.gamma != 1.0:
            x = x ** np.float32(self.gamma)
        if self.blur > 0:
            x = cv2.GaussianBlur(x, (0, 0), float(self.blur))
        if self.noise > 0:
            x = x + rng.normal(0.0, self.noise, x.shape).astype(np.float32)
        return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def camera_from_config(c: Mapping[str, Any] | None) -> Camera:
    """The collect config's ``camera`` block -> a Camera; a value that cannot work fails naming the field."""
    c = dict(c or {})
    unknown = sorted(set(c) - {"white_balance", "gamma", "blur", "noise"})
    if unknown:
        raise ValueError(f"collect config: camera.{unknown[0]} is not a camera setting; known: white_balance, gamma, "
                         f"blur, noise")
    wb = tuple(float(v) for v in c.get("white_balance", (1.0, 1.0, 1.0)))
    if len(wb) != 3 or min(wb) <= 0:
        raise ValueError(f"collect config: camera.white_balance={list(wb)} is invalid; give three positive gains "
                         f"[r, g, b] (1 = unchanged)")
    cam = Camera(wb, float(c.get("gamma", 1.0)), float(c.get("blur", 0.0)), float(c.get("noise", 0.0)))
    for name, ok, fix in (("gamma", cam.gamma > 0, "a positive exponent (1 = unchanged)"),
                          ("blur", cam.blur >= 0, "a Gaussian sigma in pixels >= 0 (0 = sharp)"),
                          ("noise", cam.noise >= 0, "a Gaussian sigma in [0, 1] units >= 0 (0 = none)")):
        if not ok:
            raise ValueError(f"collect config: camera.{name}={getattr(cam, name)} is invalid; give {fix}")
    return cam
