"""Object detection task: boxes from the shards' instance + semseg maps, torchvision Faster R-CNN, COCOeval.

The protocol is ``tst.transfer.tasks.base.Task``. A sample's ground-truth boxes are
given (COCO-format sets) or the tight boxes of its instances (``instance`` id map), each labelled with the majority ``semseg``
class inside it; instances of unlabelled or unmapped classes (``label_lut``) are dropped, so an image
may well have no box at all (torchvision trains on it as background only). Inside the model labels
are contiguous ``1..K``; predictions are mapped back to the vocabulary's class ids, which are also
the COCO category ids of the results file (``det_results.json``). The plugin returns
``out["detections"]``: boxes float32 [N, 4] xyxy pixels, labels int64 [N], names [N], scores float32 [N]
for scores >= the plugin's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tst.metrics.detection import DetectionEvaluator
from tst.tasks import TASKS
from tst.transfer import overlay as ov
from tst.transfer.class_map import apply_lut
from tst.transfer.det_model import boxes_from_instances, build_detector
from tst.transfer.space_map import class_map_by_name, rescore_detections
from tst.transfer.tasks.base import Task, TaskSpec


class DetTask(Task):
    info = TASKS["det"]

    def __init__(self, class_names: Mapping[int, str], image_size: int, label_lut: np.ndarray | None = None,
                 ignore_id: int = 0, min_pixels: int = 4, model_kwargs: Mapping | None = None):
        self.class_names = {int(k): str(v) for k, v in class_names.items() if int(k) != ignore_id}
        if not self.class_names:
            raise ValueError("DetTask: the class vocabulary has no class besides the ignore id")
        self.image_size, self.label_lut, self.ignore_id = int(image_size), label_lut, ignore_id
        self.min_pixels, self.model_kwargs = min_pixels, dict(model_kwargs or {})
        self.ids = torch.tensor(sorted(self.class_names), dtype=torch.long)  # [K]: label k+1 -> class id
        self._to_label = {int(c): k + 1 for k, c in enumerate(self.ids)}

    @classmethod
    def from_config(cls, spec: TaskSpec) -> DetTask:
        t = spec.config
        return cls(spec.classes, spec.image_size, label_lut=spec.label_lut, min_pixels=int(t["min_pixels"]),
                   model_kwargs=t.get("model_kwargs"))

    @classmethod
    def from_head_config(cls, head_config: Mapping[str, Any], run_dir: Path) -> DetTask:
        return cls(head_config["class_names"], int(head_config["image_size"]), model_kwargs=head_config.get("model_kwargs"))

    def build_model(self, encoder: nn.Module) -> nn.Module:
        return build_detector(encoder, len(self.ids), self.image_size, **self.model_kwargs)

    def boxes(self, batch: Mapping[str, Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per sample: boxes [N, 4] xyxy and class ids [N] in the head's vocabulary.

        COCO-format sets (``tst.transfer.external``) give ``boxes`` / ``labels`` directly; shards give
        instance + semseg maps, from which the boxes are derived."""
        if "boxes" in batch:
            out = []
            for b, c in zip(batch["boxes"], batch["labels"]):
                b = torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)
                c = torch.as_tensor(c, dtype=torch.long).reshape(-1)
                if self.label_lut is not None:
                    c = apply_lut(c, self.label_lut, self.ignore_id)
                keep = torch.tensor([int(x) in self._to_label for x in c], dtype=torch.bool)
                out.append((b[keep], c[keep]))
            return out
        sem = batch["semseg"]
        if self.label_lut is not None:
            sem = apply_lut(sem, self.label_lut, self.ignore_id)
        out = []
        for inst, s in zip(batch["instance"], sem):
            b, c = boxes_from_instances(inst.cpu(), s.cpu(), self.min_pixels)
            keep = torch.tensor([int(x) in self._to_label for x in c], dtype=torch.bool)
            out.append((b[keep], c[keep]))
        return out

    def loss(self, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        if not model.training:
            raise RuntimeError("DetTask.loss needs model.train(): torchvision detectors return losses only then")
        dev = batch["rgb"].device
        targets = [{"boxes": b.to(dev), "labels": torch.tensor([self._to_label[int(x)] for x in c],
                                                               dtype=torch.long, device=dev)}
                   for b, c in self.boxes(batch)]
        losses = model(list(batch["rgb"]), targets)  # torchvision: dict of RPN and RoI-head losses
        return {"loss": sum(losses.values()), **{k: v.detach() for k, v in losses.items()}}

    @staticmethod
    def _scales(batch: Mapping[str, Any]) -> list[torch.Tensor]:
        """Per sample [4] factors from the model's input pixels back to the original image (COCO sets
        resize; results files and APs/m/l are in original pixels), else ones."""
        h, w = batch["rgb"].shape[-2:]
        sizes = batch.get("orig_size") or [(h, w)] * len(batch["rgb"])
        return [torch.tensor([sw / w, sh / h, sw / w, sh / h], dtype=torch.float32) for sh, sw in sizes]

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: Mapping[str, Any]) -> list[dict[str, torch.Tensor]]:
        if model.training:
            raise RuntimeError("DetTask.predict needs model.eval(): torchvision detectors predict only then")
        ids = self.ids.to(batch["rgb"].device)
        return [{"boxes": o["boxes"].cpu() * s, "scores": o["scores"].cpu(), "labels": ids[o["labels"] - 1].cpu()}
                for o, s in zip(model(list(batch["rgb"])), self._scales(batch))]

    def ground_truth(self, batch: Mapping[str, Any], image_ids: list[int]) -> list[dict[str, Any]]:
        return [{"image_id": i, "boxes": b * s, "labels": c}
                for i, (b, c), s in zip(image_ids, self.boxes(batch), self._scales(batch))]

    def evaluator(self) -> DetectionEvaluator:
        return DetectionEvaluator(categories=self.class_names)

    def head_config(self) -> dict[str, Any]:
        return {"task": self.name, "image_size": self.image_size, "model_kwargs": self.model_kwargs,
                "class_names": self.class_names}

    def write_results(self, evaluator: DetectionEvaluator, out_dir: Path) -> Path:
        return evaluator.save_results(out_dir / "det_results.json")

    def draw(self, ax: Any, image: np.ndarray, item: Mapping[str, Any]) -> None:
        from matplotlib.patches import Rectangle

        ax.imshow(image)
        keep = item["scores"] >= 0.5 if "scores" in item else slice(None)
        for x1, y1, x2, y2 in torch.as_tensor(item["boxes"])[keep].tolist():
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="lime", lw=1.5))

    def scoring_task(self, covered, keep, image_size, options, trained) -> DetTask:
        # boxes are defined as in training unless deploy's det_min_pixels says otherwise
        min_pixels = options.get("min_pixels") or trained.get("min_pixels")
        return DetTask(covered, image_size, label_lut=keep, min_pixels=int(min_pixels or 1))

    def to_eval_ids(self, outputs: list[dict], lut: np.ndarray | None) -> list[dict]:
        mapped = []
        for o in outputs:  # detections of head classes without an eval class are dropped
            lab = apply_lut(o["labels"], lut)
            keep = lab > 0
            mapped.append({"boxes": o["boxes"][keep], "scores": o["scores"][keep], "labels": lab[keep]})
        return mapped

    def overlay_row(self, big: np.ndarray, f: int, gt: Mapping, out: Mapping, threshold: float) -> np.ndarray:
        keep = out["scores"] >= threshold
        return ov.hstack([big, ov.draw_boxes(big, gt["boxes"].numpy() * f, labels=gt["labels"].numpy()),
                          ov.draw_boxes(big, out["boxes"][keep].numpy() * f, scores=out["scores"][keep].numpy(),
                                        labels=out["labels"][keep].numpy())],
                         ["rgb", "boxes truth", f"boxes >= {threshold:g}"])

    def perceive(self, model: nn.Module, rgb: torch.Tensor, size: int) -> list[dict[str, Any]]:
        return self.predict(model, {"rgb": rgb})  # torchvision resizes to its image size and maps boxes back

    def with_space_labels(self, output: dict[str, Any], labels: np.ndarray, names: Mapping[int, str]) -> dict:
        return rescore_detections(output, labels, class_map_by_name(names, self.class_names))

    def plugin_output(self, o: Mapping[str, Any], score_threshold: float) -> dict[str, Any]:
        keep = o["scores"] >= score_threshold
        labels = o["labels"][keep].cpu().numpy().astype(np.int64)
        return {"detections": {"boxes": o["boxes"][keep].cpu().numpy().astype(np.float32), "labels": labels,
                               "names": [self.class_names.get(int(c), str(int(c))) for c in labels],
                               "scores": o["scores"][keep].cpu().numpy().astype(np.float32)}}
