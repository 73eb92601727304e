"""Members derived from a rendered frame before it is written (optional modalities).

``edges`` (Canny on rgb) is the derived modality of the paper; label-derived members of labelled
splits (captions, …) are added here too so that the collector has one place to ask.
"""

from __future__ import annotations

import cv2
import numpy as np

CANNY_LOW, CANNY_HIGH = 100, 200  # OpenCV's usual thresholds on uint8 grey


def canny_edges(rgb: np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> np.ndarray:
    """[H, W, 3] uint8 -> [H, W] uint8 in {0, 255}."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.Canny(grey, low, high)


def extra_members(frame: dict, extras: list[str]) -> dict:
    """Derived members named in ``extras`` for one rendered frame (the renderer's output dict)."""
    out: dict = {}
    for name in extras:
        if name == "edges":
            out["edges"] = canny_edges(frame["rgb"])
        else:
            raise KeyError(f"unknown derived member {name!r}; known: ['edges']")
    return out
