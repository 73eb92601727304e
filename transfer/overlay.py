"""Drawing predictions on images: label colours, mask blends, boxes, captions, side-by-side panels.

Everything works on uint8 ``[H, W, 3]`` RGB arrays and returns new arrays (inputs are never drawn
on), so deploy overlays, agent GIF frames and the map figure share one look: class ``c`` has the
same colour everywhere (``tst.palette``, which the data previews use too), unlabelled (0) is
black in label images and left untouched in blends. Text is drawn with OpenCV's Hershey font, which needs no font files.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from tst.palette import class_palette

FONT = cv2.FONT_HERSHEY_SIMPLEX


def colorize(labels: np.ndarray) -> np.ndarray:
    """Label map [H, W] (any int dtype) -> uint8 [H, W, 3] colours."""
    labels = np.asarray(labels).astype(np.int64)
    return class_palette(int(labels.max(initial=0)) + 1)[labels]


def blend(rgb: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """rgb [H, W, 3] with labelled pixels tinted by their class colour (unlabelled pixels unchanged)."""
    out = rgb.astype(np.float32)
    mask = np.asarray(labels) > 0
    out[mask] = (1 - alpha) * out[mask] + alpha * colorize(labels)[mask]
    return out.round().astype(np.uint8)


def zoom_factor(shape: Sequence[int], min_side: int = 192) -> int:
    """Integer factor that brings an image's short side to at least ``min_side`` (1 for large images)."""
    return max(1, -(-int(min_side) // max(1, min(shape[:2]))))


def enlarge(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale by an integer factor (labels stay labels; text drawn later stays sharp)."""
    return img if factor == 1 else np.repeat(np.repeat(np.asarray(img), factor, axis=0), factor, axis=1)


def draw_boxes(rgb: np.ndarray, boxes: Any, names: Sequence[str] = (), scores: Any = None,
               labels: Any = None) -> np.ndarray:
    """Boxes [N, 4] xyxy pixels, coloured by class id when ``labels`` are given, with 'name 0.87' tags."""
    out = np.ascontiguousarray(rgb.copy())
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    colours = class_palette(int(np.max(labels, initial=0)) + 1) if labels is not None and len(labels) else None
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        c = tuple(int(v) for v in colours[int(labels[i])]) if colours is not None else (0, 255, 0)
        cv2.rectangle(out, (int(round(x1)), int(round(y1))), (int(round(x2)) - 1, int(round(y2)) - 1), c, 2)
        tag = " ".join(p for p in (names[i] if i < len(names) else "",
                                   f"{float(scores[i]):.2f}" if scores is not None else "") if p)
        if tag:
            cv2.putText(out, tag, (int(x1) + 3, max(int(y1) + 13, 10)), FONT, 0.4, c, 1, cv2.LINE_AA)
    return out


def text_panel(height: int, width: int, text: str, background: int = 255) -> np.ndarray:
    """A [height, width, 3] panel holding ``text`` wrapped to the width (black on white, ~14 px lines)."""
    out = np.full((height, width, 3), background, np.uint8)
    y = 12
    for line in textwrap.wrap(text or "(empty)", max(8, width // 8)):
        cv2.putText(out, line, (4, y), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        y += 14
    return out


def caption_band(rgb: np.ndarray, text: str) -> np.ndarray:
    """rgb with a white band below it that holds ``text`` (at most three lines)."""
    band = text_panel(46, rgb.shape[1], text)  # three lines, the same height every frame (GIFs need it)
    return np.concatenate([rgb, band], axis=0)


def annotate(rgb: np.ndarray, result: Mapping[str, Any], alpha: float = 0.5, min_side: int = 192) -> np.ndarray:
    """One Perception result drawn on its image: mask blend, boxes with names, caption band.

    Small images are enlarged (nearest) to ``min_side`` first so that text stays readable."""
    f = zoom_factor(rgb.shape, min_side)
    out = enlarge(rgb[..., :3], f)
    if "semseg" in result:
        out = blend(out, enlarge(result["semseg"], f), alpha)
    if "detections" in result:
        d = result["detections"]
        out = draw_boxes(out, np.asarray(d["boxes"]) * f, d.get("names", ()), d.get("scores"), d.get("labels"))
    if "caption" in result:
        out = caption_band(out, result["caption"])
    return out


def hstack(panels: Sequence[np.ndarray], titles: Sequence[str] = (), gap: int = 4) -> np.ndarray:
    """Panels side by side (padded to the tallest, white gaps), each with an optional title bar on top."""
    h = max(p.shape[0] for p in panels)
    cols = []
    for i, p in enumerate(panels):
        p = p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2)
        p = np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=255)
        if titles:
            p = np.concatenate([text_panel(18, p.shape[1], titles[i]), p], axis=0)
        cols += [p, np.full((p.shape[0], gap, 3), 255, np.uint8)]
    return np.concatenate(cols[:-1], axis=1)


def vstack(rows: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Rows one below the other, padded to the widest with white."""
    w = max(r.shape[1] for r in rows)
    out = []
    for r in rows:
        out += [np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0)), constant_values=255),
                np.full((gap, w, 3), 255, np.uint8)]
    return np.concatenate(out[:-1], axis=0)


def write_png(path, rgb: np.ndarray) -> None:
    """uint8 RGB -> PNG (OpenCV writes BGR)."""
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
