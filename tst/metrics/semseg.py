"""Semantic segmentation evaluator: mIoU, pixel accuracy and per-class IoU from one confusion matrix.

Follows detectron2's evaluator interface (``reset() / process(inputs, outputs) / evaluate()``) so
the shared finetuning loop and deploy can drive every task the same way. Everything is accumulated
in a single ``[K, K+1]`` confusion matrix over the vocabulary's classes (the extra column counts
predictions outside the vocabulary, e.g. "unlabelled"), so the result does not depend on batching.

Conventions (ARCHITECTURE.md): label maps hold class ids from the manifest vocabulary, ``0`` means
unlabelled and is ignored; values are percentages (0–100). A class that never occurs in the ground
truth has an undefined IoU: it is left out of the mean and of the per-class keys (a model should not
be rewarded or punished for a class it was never asked about), and it is listed in ``absent``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


def _as_numpy(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{what}: expected a [H, W] class-id map, got shape {a.shape}")
    return a.astype(np.int64, copy=False)


class SemSegEvaluator:
    """Accumulates a confusion matrix over ``class_names`` (id -> name) and reports ``semseg/*`` keys.

    ``inputs[i]["semseg"]`` is the ground-truth id map ``[H, W]``; ``outputs[i]["semseg"]`` the
    predicted id map ``[H, W]`` in the same id space (the task's postprocess takes the argmax).
    """

    def __init__(self, class_names: Mapping[int, str], ignore_index: int = 0, prefix: str = "semseg"):
        if not class_names:
            raise ValueError("SemSegEvaluator: class_names is empty; pass the vocabulary (id -> name)")
        if ignore_index in class_names:
            raise ValueError(f"SemSegEvaluator: ignore_index {ignore_index} is also a class "
                             f"({class_names[ignore_index]!r}); drop it from class_names")
        self.ids = np.array(sorted(int(i) for i in class_names), dtype=np.int64)  # [K]
        self.names = [str(class_names[int(i)]) for i in self.ids]
        self.ignore_index = int(ignore_index)
        self.prefix = prefix
        k = len(self.ids)
        # id -> row/column of the matrix; anything unknown in a prediction goes to column K ("other")
        self._lut = np.full(int(self.ids.max()) + 2, k, dtype=np.int64)
        self._lut[self.ids] = np.arange(k)
        self.reset()

    def reset(self) -> None:
        k = len(self.ids)
        self.confusion = np.zeros((k, k + 1), dtype=np.int64)  # [gt K, pred K+1]

    def _index(self, ids: np.ndarray) -> np.ndarray:
        clipped = np.where((ids >= 0) & (ids < len(self._lut)), ids, len(self._lut) - 1)
        return self._lut[clipped]

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> None:
        if len(inputs) != len(outputs):
            raise ValueError(f"process: {len(inputs)} inputs but {len(outputs)} outputs")
        for inp, out in zip(inputs, outputs):
            gt = _as_numpy(inp["semseg"], "inputs['semseg']")
            pred = _as_numpy(out["semseg"], "outputs['semseg']")
            if gt.shape != pred.shape:
                raise ValueError(f"process: prediction {pred.shape} and ground truth {gt.shape} differ; "
                                 "resize the prediction to the label size before evaluating")
            self.add(gt, pred)

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Accumulate one ``[H, W]`` pair of id maps."""
        keep = gt != self.ignore_index
        g, p = gt[keep], pred[keep]  # [N]
        unknown = ~np.isin(g, self.ids)
        if unknown.any():
            bad = sorted(set(np.unique(g[unknown]).tolist()))
            raise ValueError(f"ground truth holds class ids {bad} that are not in the vocabulary "
                             f"{self.ids.tolist()}; map them with tst.transfer.class_map.map_classes "
                             f"or set them to ignore_index={self.ignore_index}")
        k1 = self.confusion.shape[1]
        flat = self._index(g) * k1 + self._index(p)
        self.confusion += np.bincount(flat, minlength=self.confusion.size).reshape(self.confusion.shape)

    def evaluate(self) -> dict[str, float]:
        c = self.confusion
        total = int(c.sum())
        if total == 0:
            raise ValueError("SemSegEvaluator.evaluate: no labelled pixels were processed "
                             f"(every ground-truth pixel was ignore_index={self.ignore_index})")
        k = len(self.ids)
        tp = np.diag(c[:, :k]).astype(np.float64)  # [K]
        gt_count = c.sum(axis=1).astype(np.float64)  # [K] = TP + FN
        pred_count = c[:, :k].sum(axis=0).astype(np.float64)  # [K] = TP + FP (on labelled pixels)
        present = gt_count > 0
        iou = tp / np.maximum(gt_count + pred_count - tp, 1.0)  # [K]
        p = self.prefix
        res = {f"{p}/mIoU": float(100.0 * iou[present].mean()),
               f"{p}/pixel_acc": float(100.0 * tp.sum() / total)}
        for name, v, ok in zip(self.names, iou, present):
            if ok:
                res[f"{p}/IoU/{name}"] = float(100.0 * v)
        self.absent = [n for n, ok in zip(self.names, present) if not ok]
        if self.absent:
            log.info("semseg: %d classes absent from the ground truth, excluded from mIoU: %s",
                     len(self.absent), ", ".join(self.absent))
        return res
