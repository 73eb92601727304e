"""Members derived from a rendered frame before it is written (optional modalities).

``edges`` (Canny on rgb) is the derived modality of the paper; label-derived members of labelled
splits (captions, …) are added here too so that the collector has one place to ask.
"""

from __future__ import annotations

import cv2
import numpy as np

from tst.collect.captions import captions_for_view
from tst.envs.scene import Scene

CANNY_LOW, CANNY_HIGH = 100, 200  # OpenCV's usual thresholds on uint8 grey


def canny_edges(rgb: np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> np.ndarray:
    """[H, W, 3] uint8 -> [H, W] uint8 in {0, 255}."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.Canny(grey, low, high)


KNOWN_EXTRAS = ("edges", "caption")
N_CAPTIONS = 5  # references per view: CIDEr/BLEU need several


def extra_members(frame: dict, extras: list[str], scene: Scene | None = None,
                  rng: np.random.Generator | None = None) -> dict:
    """Derived members named in ``extras`` for one rendered frame (the renderer's output dict).

    ``caption`` needs the ``scene`` (class names, rooms) and the instance labels in the
    frame; put the pose in ``frame["cam_to_world"]`` so captions can name the room. Its value is
    ``{"captions": [...]}``, which the shard writer stores as ``K.caption.json``.
    """
    out: dict = {}
    for name in extras:
        if name == "edges":
            out["edges"] = canny_edges(frame["rgb"])
        elif name == "caption":
            if scene is None:
                raise ValueError("extra member 'caption' needs the scene: call extra_members(frame, extras, scene=…)")
            missing = [k for k in ("rgb", "instance") if k not in frame]
            if missing:
                raise ValueError(f"extra member 'caption' needs {missing} in the frame: render the labels "
                                 f"(a labelled split, split=eval or split=external)")
            out["caption"] = {"captions": captions_for_view(frame, scene, N_CAPTIONS, rng)}
        else:
            raise KeyError(f"unknown derived member {name!r}; known: {list(KNOWN_EXTRAS)}")
    return out
