"""Semantic segmentation task: what the shared finetuning loop needs to train and evaluate a seg head.

The protocol every task follows is ``tst.transfer.tasks.base.Task``. Predictions are uint16 label PNGs
(``<key>.semseg.png``); the plugin returns ``out["semseg"]`` uint16 [H, W] class ids.

Labels: ``class_names`` is the vocabulary the head predicts (id -> name, 0 = unlabelled). When the
training set uses another vocabulary, ``label_lut`` (from ``tst.transfer.class_map.map_classes``)
maps its ids first; unmapped classes become unlabelled and are ignored by the loss and the metric.
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

from tst.metrics.semseg import SemSegEvaluator
from tst.tasks import TASKS
from tst.transfer import overlay as ov
from tst.transfer.class_map import apply_lut
from tst.transfer.seg_head import SegModel, build_seg_head
from tst.transfer.tasks.base import Task, TaskSpec


class SemSegTask(Task):
    info = TASKS["semseg"]

    def __init__(self, class_names: Mapping[int, str], head: str = "uper", head_kwargs: Mapping | None = None,
                 label_lut: np.ndarray | None = None, ignore_id: int = 0):
        self.class_names = {int(k): str(v) for k, v in class_names.items() if int(k) != ignore_id}
        if not self.class_names:
            raise ValueError("SemSegTask: the class vocabulary has no class besides the ignore id")
        self.head, self.head_kwargs = head, dict(head_kwargs or {})
        self.label_lut, self.ignore_id = label_lut, ignore_id
        self.ids = torch.tensor(sorted(self.class_names), dtype=torch.long)  # [K] channel -> class id
        to_index = torch.full((int(self.ids.max()) + 1,), -1, dtype=torch.long)
        to_index[self.ids] = torch.arange(len(self.ids))
        self._to_index = to_index  # class id -> channel, -1 = ignored

    @classmethod
    def from_config(cls, spec: TaskSpec) -> SemSegTask:
        t = spec.config
        # the linear probe has nothing to size: model_kwargs (the UPerNet width) only apply to head=uper
        kwargs = dict(t.get("model_kwargs") or {}) if t["head"] != "linear" else {}
        return cls(spec.classes, head=t["head"], head_kwargs=kwargs, label_lut=spec.label_lut)

    @classmethod
    def from_head_config(cls, head_config: Mapping[str, Any], run_dir: Path) -> SemSegTask:
        return cls(head_config["class_names"], head=head_config["head"], head_kwargs=head_config.get("head_kwargs"))

    def build_model(self, encoder: nn.Module) -> SegModel:
        return SegModel(encoder, build_seg_head(self.head, encoder, len(self.ids), **self.head_kwargs))

    def labels(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """semseg [B, H, W] in the head's vocabulary (external ids mapped, unknown ids -> ignore_id)."""
        y = batch["semseg"]
        if self.label_lut is not None:
            y = apply_lut(y, self.label_lut, self.ignore_id)
        return y

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        lut = self._to_index.to(y.device)
        ok = (y >= 0) & (y < len(lut))
        return torch.where(ok, lut[torch.where(ok, y, 0)], -1)  # [B, H, W] channel or -1

    def loss(self, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return self.loss_in_vocab(model, batch["rgb"], self.labels(batch))

    def loss_in_vocab(self, model: nn.Module, rgb: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy against class ids [B, H, W] already in the head's vocabulary (0 = ignored): the
        external labels after ``labels``, or self-training's fused labels (``tst.transfer.self_train``)."""
        logits = model(rgb)  # [B, K, H, W]
        target = self._targets(y.to(logits.device))  # [B, H, W]
        if not bool((target >= 0).any()):  # a batch without labelled pixels teaches nothing
            return {"loss": logits.sum() * 0.0}
        return {"loss": F.cross_entropy(logits, target, ignore_index=-1)}

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: Mapping[str, Any]) -> list[dict[str, torch.Tensor]]:
        logits = model(batch["rgb"])  # [B, K, H, W]
        pred = self.ids.to(logits.device)[logits.argmax(1)]  # [B, H, W] class ids
        return [{"semseg": p.cpu()} for p in pred]

    def ground_truth(self, batch: Mapping[str, Any], image_ids: list[int]) -> list[dict[str, Any]]:
        return [{"image_id": i, "semseg": y.cpu()} for i, y in zip(image_ids, self.labels(batch))]

    def evaluator(self) -> SemSegEvaluator:
        return SemSegEvaluator(self.class_names, ignore_index=self.ignore_id)

    def head_config(self) -> dict[str, Any]:
        return {"task": self.name, "head": self.head, "head_kwargs": self.head_kwargs,
                "class_names": self.class_names}

    def write_batch(self, out_dir: Path, keys: Sequence[str], outputs: Sequence[dict]) -> None:
        for k, o in zip(keys, outputs):
            cv2.imwrite(str(out_dir / f"{k}.semseg.png"), o["semseg"].numpy().astype(np.uint16))

    def draw(self, ax: Any, image: np.ndarray, item: Mapping[str, Any]) -> None:
        ax.imshow(item["semseg"].cpu().numpy(), cmap="tab20", vmin=0, vmax=19, interpolation="nearest")

    def scoring_task(self, covered, keep, image_size, options, trained) -> SemSegTask:
        return SemSegTask(covered, label_lut=keep)

    def to_eval_ids(self, outputs: list[dict], lut: np.ndarray | None) -> list[dict]:
        return [{"semseg": apply_lut(o["semseg"], lut)} for o in outputs]

    def overlay_row(self, big: np.ndarray, f: int, gt: Mapping, out: Mapping, threshold: float) -> np.ndarray:
        return ov.hstack([big, ov.colorize(ov.enlarge(gt["semseg"].numpy(), f)),
                          ov.colorize(ov.enlarge(out["semseg"].numpy(), f))],
                         ["rgb", "semseg truth", "semseg prediction"])

    def resize_outputs(self, outputs: list[dict], hw: tuple[int, int]) -> list[dict]:
        for o in outputs:  # labels resize nearest
            o["semseg"] = F.interpolate(o["semseg"][None, None].float(), size=hw, mode="nearest")[0, 0].long()
        return outputs

    def plugin_output(self, o: Mapping[str, Any], score_threshold: float) -> dict[str, Any]:
        return {"semseg": o["semseg"].cpu().numpy().astype(np.uint16)}

    def pixel_classes(self, output: Mapping[str, Any]) -> np.ndarray:
        return output["semseg"].cpu().numpy().astype(np.int64)

    def with_space_labels(self, output: dict[str, Any], labels: np.ndarray, names: Mapping[int, str]) -> dict:
        return {**output, "semseg": torch.from_numpy(labels)}  # the map's labels are this head's own classes
