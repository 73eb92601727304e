"""Monocular depth evaluator: AbsRel, RMSE and δ<1.25 — the standard metrics (Eigen et al., 2014).

Follows detectron2's evaluator interface (``reset() / process(inputs, outputs) / evaluate()``) like the
other tasks' evaluators. ``inputs[i]["depth"]`` is the ground truth in metres ``[H, W]`` (0 = no hit,
as in the shards: ignored, like every non-finite pixel or one beyond ``max_depth``);
``outputs[i]["depth"]`` the prediction in metres at the same size.

Conventions (contract, ARCHITECTURE.md): each image's numbers are taken over its valid pixels, then
averaged over images (as the NYU / KITTI evaluation code does). ``depth/AbsRel`` = mean |d − d*| / d*
(a fraction), ``depth/RMSE`` = sqrt(mean (d − d*)²) in metres (both lower is better), ``depth/delta1``
= the share of pixels with max(d / d*, d* / d) < 1.25 in percent (0–100, like mIoU and AP).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

EPS = 1e-6  # predictions are floored here so that a zero prediction cannot divide by zero in δ


def _as_numpy(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{what}: expected a [H, W] depth map in metres, got shape {a.shape}")
    return a


class DepthEvaluator:
    """Per-image AbsRel / RMSE / δ<1.25 over valid pixels, averaged over images (``depth/*`` keys)."""

    def __init__(self, max_depth: float | None = None, prefix: str = "depth"):
        self.max_depth, self.prefix = max_depth, prefix
        self.reset()

    def reset(self) -> None:
        self.per_image: list[tuple[float, float, float]] = []  # (AbsRel, RMSE, delta1 %) per image
        self.empty = 0  # images without a valid pixel (left out of the means)

    def process(self, inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
        if len(inputs) != len(outputs):
            raise ValueError(f"DepthEvaluator.process: {len(inputs)} inputs but {len(outputs)} outputs")
        for i, (gt_item, out) in enumerate(zip(inputs, outputs)):
            gt = _as_numpy(gt_item["depth"], f"inputs[{i}]['depth']")
            pred = _as_numpy(out["depth"], f"outputs[{i}]['depth']")
            if pred.shape != gt.shape:
                raise ValueError(f"DepthEvaluator: prediction {pred.shape} and ground truth {gt.shape} differ in size")
            valid = np.isfinite(gt) & (gt > 0)
            if self.max_depth is not None:
                valid &= gt <= self.max_depth
            if not valid.any():
                self.empty += 1
                continue
            g, d = gt[valid], np.maximum(pred[valid], EPS)
            ratio = np.maximum(d / g, g / d)
            self.per_image.append((float(np.mean(np.abs(d - g) / g)), float(np.sqrt(np.mean((d - g) ** 2))),
                                   float(np.mean(ratio < 1.25) * 100.0)))

    def evaluate(self) -> dict[str, float]:
        if not self.per_image:
            raise ValueError(f"DepthEvaluator.evaluate: no image with a valid depth pixel was processed "
                             f"({self.empty} images had none: depth 0 = no hit)")
        abs_rel, rmse, delta1 = np.mean(np.asarray(self.per_image), axis=0)
        p = self.prefix
        return {f"{p}/AbsRel": float(abs_rel), f"{p}/RMSE": float(rmse), f"{p}/delta1": float(delta1)}
