"""Members derived from a rendered frame before it is written (optional modalities).

``edges`` (Canny on rgb) is the derived modality of the paper; label-derived members of labelled
splits (captions, …) are added here too so that the collector has one place to ask.
"""

from __future__ import annotations

import cv2
import numpy as np

from tst.collect.captions import captions_for_view
from tst.envs.scene import Scene
from tst.modalities import derived_modalities

CANNY_LOW, CANNY_HIGH = 100, 200  # OpenCV's usual thresholds on uint8 grey


def canny_edges(rgb: np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> np.ndarray:
    """[H, W, 3] uint8 -> [H, W] uint8 in {0, 255}."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.Canny(grey, low, high)


N_CAPTIONS = 5  # references per view: CIDEr/BLEU need several


def _edges(frame: dict, scene: Scene | None, rng: np.random.Generator | None) -> np.ndarray:
    return canny_edges(frame["rgb"])


def _caption(frame: dict, scene: Scene | None, rng: np.random.Generator | None) -> dict:
    if scene is None:
        raise ValueError("extra member 'caption' needs the scene: call extra_members(frame, extras, scene=…)")
    missing = [k for k in ("rgb", "instance") if k not in frame]
    if missing:
        raise ValueError(f"extra member 'caption' needs {missing} in the frame: render the labels "
                         f"(a labelled split, split=eval or split=external)")
    return {"captions": captions_for_view(frame, scene, N_CAPTIONS, rng)}


# How each derived modality of the table (``sensor=False``) is made from a frame; the table says
# how it is stored and whether it needs a labelled split (``needs_labels``).
DERIVE = {"edges": _edges, "caption": _caption}
if set(DERIVE) != set(derived_modalities()):
    raise ImportError(f"collect.members derives {sorted(DERIVE)} but tst.modalities lists the derived (sensor=False) "
                      f"modalities {sorted(derived_modalities())}: keep the two in step")


def known_extras() -> list[str]:
    """The derived members collect can add (``extras=[…]``)."""
    return list(DERIVE)


def extra_members(frame: dict, extras: list[str], scene: Scene | None = None,
                  rng: np.random.Generator | None = None) -> dict:
    """Derived members named in ``extras`` for one rendered frame (the renderer's output dict).

    ``caption`` needs the ``scene`` (class names, rooms) and the instance labels in the
    frame; put the pose in ``frame["cam_to_world"]`` so captions can name the room. Its value is
    ``{"captions": [...]}``, which the shard writer stores as ``K.caption.json``.
    """
    out: dict = {}
    for name in extras:
        if name not in DERIVE:
            raise KeyError(f"unknown derived member {name!r}; known: {known_extras()}")
        out[name] = DERIVE[name](frame, scene, rng)
    return out
