"""COCO-style box detection evaluator: pycocotools ``COCOeval`` behind the detectron2 interface.

We do not reimplement AP: the numbers have to match what everybody else reports, so predictions
are turned into a standard COCO results list (``[{image_id, category_id, bbox: [x, y, w, h],
score}]``), which is also the prediction file the transfer stage writes, and handed to pycocotools.

Keys (ARCHITECTURE.md): ``det/AP``, ``det/AP50``, ``det/AP75``, ``det/APs``, ``det/APm``, ``det/APl``
as percentages. COCOeval reports -1 for a size range without any ground-truth object; such a key is
left out (and logged) rather than written as a fake number.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

log = logging.getLogger(__name__)

# COCOeval.stats index -> metric name
_STATS = {0: "AP", 1: "AP50", 2: "AP75", 3: "APs", 4: "APm", 5: "APl"}


def load_coco_json(path: str | Path) -> dict:
    """Read and check a COCO instances file, failing with the file and field at fault."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"COCO annotation file {path} is empty; it needs 'images', 'annotations' "
                         "and 'categories' lists (collect writes one per external split)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"COCO annotation file {path} is not valid JSON: {e}") from None
    return check_coco_dict(data, str(path))


def check_coco_dict(data: Any, source: str = "<dict>") -> dict:
    """Validate the fields COCOeval needs and fill the optional ones (``iscrowd``, ``area``)."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a COCO annotation file holds a JSON object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{source}: field {key!r} is missing or not a list")
    if not data["categories"]:
        raise ValueError(f"{source}: 'categories' is empty; list the classes as {{id, name}}")
    data = copy.deepcopy(data)
    image_ids = {im["id"] for im in data["images"]}
    cat_ids = {c["id"] for c in data["categories"]}
    for i, ann in enumerate(data["annotations"]):
        where = f"{source}: annotations[{i}]"
        if ann.get("image_id") not in image_ids:
            raise ValueError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
        if ann.get("category_id") not in cat_ids:
            raise ValueError(f"{where}: category_id {ann.get('category_id')!r} is not in 'categories' "
                             f"{sorted(cat_ids)}")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and bbox[2] >= 0 and bbox[3] >= 0):
            raise ValueError(f"{where}: 'bbox' must be [x, y, width, height] with width, height >= 0, "
                             f"got {bbox!r}")
        ann.setdefault("iscrowd", 0)
        ann.setdefault("area", float(bbox[2] * bbox[3]))
        ann.setdefault("id", i + 1)
    return data


def coco_api(data: dict) -> COCO:
    """A pycocotools ``COCO`` object built from a dict, without its console chatter."""
    coco = COCO()
    coco.dataset = copy.deepcopy(data)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def to_coco_results(image_id: int, boxes_xyxy: Any, scores: Any, labels: Any) -> list[dict]:
    """Boxes ``[N, 4]`` (x1, y1, x2, y2 pixels), scores ``[N]``, category ids ``[N]`` -> COCO results."""
    b = _np(boxes_xyxy).astype(np.float64).reshape(-1, 4)
    s, c = _np(scores).reshape(-1), _np(labels).reshape(-1)
    if not (len(b) == len(s) == len(c)):
        raise ValueError(f"image {image_id}: {len(b)} boxes, {len(s)} scores and {len(c)} labels differ")
    wh = b[:, 2:] - b[:, :2]  # [N, 2]
    return [{"image_id": int(image_id), "category_id": int(ci),
             "bbox": [float(b[i, 0]), float(b[i, 1]), float(wh[i, 0]), float(wh[i, 1])],
             "score": float(si)} for i, (si, ci) in enumerate(zip(s, c))]


class DetectionEvaluator:
    """``inputs[i]["image_id"]`` names the image; ``outputs[i]`` has ``boxes`` ``[N, 4]`` xyxy,
    ``scores`` ``[N]`` and ``labels`` ``[N]`` as category ids of the ground truth.

    The ground truth is either a COCO instances file / dict given up front, or (``ground_truth=None``
    with ``categories`` id -> name) collected from ``inputs[i]["boxes"]`` / ``inputs[i]["labels"]``
    as samples are processed, which is how shards without a COCO export are evaluated.
    """

    def __init__(self, ground_truth: str | Path | Mapping | None = None,
                 categories: Mapping[int, str] | None = None, prefix: str = "det"):
        self.prefix = prefix
        self.collect = ground_truth is None
        if self.collect:
            if not categories:
                raise ValueError("DetectionEvaluator: pass either a COCO ground truth or categories (id -> name) "
                                 "to collect the ground truth from the inputs")
            self.categories = [{"id": int(i), "name": str(n)} for i, n in sorted(categories.items())]
        elif isinstance(ground_truth, Mapping):
            self.gt = check_coco_dict(dict(ground_truth))
        else:
            self.gt = load_coco_json(ground_truth)
        self.reset()

    def reset(self) -> None:
        self.results: list[dict] = []
        self.image_ids: list[int] = []
        if self.collect:
            self.gt = {"images": [], "annotations": [], "categories": self.categories}
            self._gt_ids: set[int] = set()
        self.coco_gt = coco_api(self.gt)

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> None:
        if len(inputs) != len(outputs):
            raise ValueError(f"process: {len(inputs)} inputs but {len(outputs)} outputs")
        for inp, out in zip(inputs, outputs):
            image_id = int(inp["image_id"])
            if self.collect:
                self._add_ground_truth(image_id, inp)
            elif image_id not in self.coco_gt.imgs:
                raise ValueError(f"process: image_id {image_id} is not in the ground-truth 'images'")
            self.image_ids.append(image_id)
            self.results += to_coco_results(image_id, out["boxes"], out["scores"], out["labels"])

    def _add_ground_truth(self, image_id: int, inp: Mapping[str, Any]) -> None:
        if image_id in self._gt_ids:
            raise ValueError(f"process: image_id {image_id} was processed twice")
        gt = to_coco_results(image_id, inp["boxes"], np.ones(len(_np(inp["labels"]))), inp["labels"])
        self.gt["images"].append({"id": image_id})
        self._gt_ids.add(image_id)
        first = len(self.gt["annotations"])
        self.gt["annotations"] += [{"id": first + j + 1, "image_id": image_id, "category_id": a["category_id"],
                                    "bbox": a["bbox"], "area": a["bbox"][2] * a["bbox"][3], "iscrowd": 0}
                                   for j, a in enumerate(gt)]

    def save_results(self, path: str | Path) -> Path:
        """Write the standard COCO results json (the prediction file of a transfer run)."""
        path = Path(path)
        path.write_text(json.dumps(self.results))
        return path

    def evaluate(self) -> dict[str, float]:
        p = self.prefix
        if self.collect:
            self.coco_gt = coco_api(check_coco_dict(self.gt, "collected ground truth"))
        img_ids = sorted(set(self.image_ids)) or sorted(self.coco_gt.imgs)
        n_gt = len(self.coco_gt.getAnnIds(imgIds=img_ids, iscrowd=False))
        if n_gt == 0:
            raise ValueError("DetectionEvaluator: the evaluated images have no ground-truth boxes, so AP is "
                             "undefined; evaluate on images with annotations")
        if not self.results:
            log.warning("det: no predicted boxes on %d images; every AP is 0", len(img_ids))
            areas = [a["area"] for a in self.coco_gt.loadAnns(self.coco_gt.getAnnIds(imgIds=img_ids))]
            ranges = {"APs": (0, 32**2), "APm": (32**2, 96**2), "APl": (96**2, float("inf"))}
            return {f"{p}/{name}": 0.0 for name in _STATS.values()
                    if name not in ranges or any(ranges[name][0] <= a <= ranges[name][1] for a in areas)}
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = self.coco_gt.loadRes(copy.deepcopy(self.results))
            ev = COCOeval(self.coco_gt, coco_dt, iouType="bbox")
            ev.params.imgIds = img_ids
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        res, undefined = {}, []
        for i, name in _STATS.items():
            v = float(ev.stats[i])
            if v < 0:  # COCOeval: no ground truth in this size range
                undefined.append(name)
            else:
                res[f"{p}/{name}"] = 100.0 * v
        if undefined:
            log.info("det: no ground-truth objects for %s; those keys are left out", ", ".join(undefined))
        return res
