"""Monocular depth estimation: a dense head on the encoder predicting metric depth from rgb alone.

The head is the semantic segmentation machinery (``tst.transfer.seg_head``: UPerNet over four ViT blocks,
or a linear probe) with one output channel read as log-depth, so ``exp`` of it is depth in metres,
clamped to ``[min_depth, max_depth]``. Training: L1 between predicted and true log-depth on the valid
pixels (the shards' ``depth`` member, metres, 0 = no hit, ignored) — a relative error, like the AbsRel
it is scored with, that still pins the metric scale. Scored by ``tst.metrics.depth.DepthEvaluator``
(``depth/AbsRel``, ``depth/RMSE``, ``depth/delta1`` in percent). Predictions are written like the shards'
depth (uint16 millimetres, ``<key>.depth.png``); overlays and the preview show depth colour-mapped
(turbo, near = blue, far = red, no hit = black); the plugin returns ``out["depth"]`` float32 [H, W] metres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tst.metrics.depth import DepthEvaluator
from tst.tasks import TASKS
from tst.transfer import overlay as ov
from tst.transfer.seg_head import SegModel, build_seg_head
from tst.transfer.tasks.base import Task, TaskSpec


def colour_depth(depth: np.ndarray, vmax: float) -> np.ndarray:
    """Depth [H, W] metres -> uint8 [H, W, 3] RGB (turbo over [0, vmax]; no hit (<= 0) black)."""
    d = np.asarray(depth, dtype=np.float32)
    scaled = np.clip(d / max(float(vmax), 1e-6) * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)[..., ::-1].copy()  # BGR -> RGB
    rgb[~(d > 0)] = 0
    return rgb


class DepthTask(Task):
    info = TASKS["depth"]

    def __init__(self, head: str = "uper", head_kwargs: Mapping | None = None, min_depth: float = 0.05,
                 max_depth: float = 20.0):
        if not 0 < float(min_depth) < float(max_depth):
            raise ValueError(f"DepthTask: need 0 < min_depth < max_depth, got min_depth={min_depth}, "
                             f"max_depth={max_depth} (configs/task/depth.yaml)")
        self.head, self.head_kwargs = head, dict(head_kwargs or {})
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)

    @classmethod
    def from_config(cls, spec: TaskSpec) -> DepthTask:
        t = spec.config
        kwargs = dict(t.get("model_kwargs") or {}) if t["head"] != "linear" else {}
        return cls(t["head"], kwargs, float(t["min_depth"]), float(t["max_depth"]))

    @classmethod
    def from_head_config(cls, head_config: Mapping[str, Any], run_dir: Path) -> DepthTask:
        return cls(head_config["head"], head_config.get("head_kwargs"), head_config["min_depth"],
                   head_config["max_depth"])

    def head_config(self) -> dict[str, Any]:
        return {"task": self.name, "head": self.head, "head_kwargs": self.head_kwargs,
                "min_depth": self.min_depth, "max_depth": self.max_depth}

    def build_model(self, encoder: nn.Module) -> SegModel:
        return SegModel(encoder, build_seg_head(self.head, encoder, 1, **self.head_kwargs))

    def loss(self, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        log_pred = model(batch["rgb"])[:, 0]  # [B, H, W] log metres
        gt = batch["depth"].to(log_pred.device)[:, 0]  # [B, H, W] metres, 0 = no hit
        valid = torch.isfinite(gt) & (gt > 0)
        if not bool(valid.any()):  # a batch of sky teaches nothing
            return {"loss": log_pred.sum() * 0.0}
        target = gt[valid].clamp(self.min_depth, self.max_depth).log()
        return {"loss": (log_pred[valid] - target).abs().mean()}

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: Mapping[str, Any]) -> list[dict[str, torch.Tensor]]:
        depth = model(batch["rgb"])[:, 0].exp().clamp(self.min_depth, self.max_depth)  # [B, H, W] metres
        return [{"depth": d.float().cpu()} for d in depth]

    def ground_truth(self, batch: Mapping[str, Any], image_ids: list[int]) -> list[dict[str, Any]]:
        return [{"image_id": i, "depth": d[0].cpu()} for i, d in zip(image_ids, batch["depth"])]

    def evaluator(self) -> DepthEvaluator:
        return DepthEvaluator()

    def write_batch(self, out_dir: Path, keys: Sequence[str], outputs: Sequence[dict]) -> None:
        for k, o in zip(keys, outputs):  # the shards' encoding: uint16 millimetres
            mm = np.clip(np.round(o["depth"].numpy() * 1000.0), 0, 65535).astype(np.uint16)
            cv2.imwrite(str(out_dir / f"{k}.depth.png"), mm)

    def draw(self, ax: Any, image: np.ndarray, item: Mapping[str, Any]) -> None:
        ax.imshow(colour_depth(item["depth"].cpu().numpy(), self.max_depth))

    def overlay_row(self, big: np.ndarray, f: int, gt: Mapping, out: Mapping, threshold: float) -> np.ndarray:
        truth, pred = gt["depth"].numpy(), out["depth"].numpy()
        vmax = float(truth[truth > 0].max()) if (truth > 0).any() else float(pred.max())  # one scale for both
        return ov.hstack([big, ov.enlarge(colour_depth(truth, vmax), f), ov.enlarge(colour_depth(pred, vmax), f)],
                         ["rgb", "depth truth", f"depth prediction (0-{vmax:.1f} m)"])

    def resize_outputs(self, outputs: list[dict], hw: tuple[int, int]) -> list[dict]:
        for o in outputs:
            o["depth"] = F.interpolate(o["depth"][None, None], size=hw, mode="bilinear", align_corners=False)[0, 0]
        return outputs

    def plugin_output(self, o: Mapping[str, Any], score_threshold: float) -> dict[str, Any]:
        return {"depth": o["depth"].cpu().numpy().astype(np.float32)}
