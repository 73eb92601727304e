"""External labelled sets in their standard layouts, read as the same samples the shards give.

Besides tst shards (``collect split=external``), transfer reads real datasets as they are shipped:

- **COCO format**: an ``instances*.json`` and/or ``captions*.json`` next to (or naming) an image
  folder. Samples get ``boxes`` [N, 4] xyxy pixels and ``labels`` [N] (category ids), and/or
  ``caption`` ``{"captions": [...]}``. Crowd annotations are skipped.
- **ADE20K-style folders**: ``images/<name>.jpg|png`` with ``annotations/<name>.png`` label maps
  (0 = unlabelled, the ADE convention and ours) and a class list.

Every sample is resized to one square ``size`` (bilinear for rgb, nearest for labels, boxes
scaled) so batches stack; ``rgb`` is float [3, S, S] in [0, 1] like ``tst.dataset``. Boxes and
labels are numpy arrays so ``tst.dataset.collate`` keeps them as per-sample lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from tst.metrics.detection import load_coco_json

IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def _read_rgb(path: Path, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    h, w = img.shape[:2]
    img = cv2.resize(img[:, :, ::-1], (size, size), interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0), (h, w)  # [3, S, S]


class CocoSet(Dataset):
    """COCO instances and/or captions over ``images_dir``; one sample per image of the file(s)."""

    def __init__(self, images_dir: str | Path, size: int, instances: str | Path | None = None,
                 captions: str | Path | None = None):
        if instances is None and captions is None:
            raise ValueError("CocoSet needs an instances and/or a captions json")
        self.images_dir, self.size = Path(images_dir), int(size)
        self.det = load_coco_json(instances) if instances else None
        cap = json.loads(Path(captions).read_text(encoding="utf-8")) if captions else None
        if cap is not None and not isinstance(cap.get("annotations"), list):
            raise ValueError(f"{captions}: field 'annotations' is missing or not a list")
        images = {im["id"]: im for src in (self.det, cap) if src for im in src["images"]}
        if not images:
            raise ValueError(f"{instances or captions} lists no images")
        self.ids = sorted(images)
        self.files = {i: self.images_dir / images[i].get("file_name", f"{i}.jpg") for i in self.ids}
        self.boxes: dict[int, list] = {i: [] for i in self.ids}
        for a in self.det["annotations"] if self.det else []:
            if not a.get("iscrowd", 0):
                self.boxes[a["image_id"]].append((a["bbox"], a["category_id"]))
        self.has_captions = cap is not None
        self.captions: dict[int, list[str]] = {i: [] for i in self.ids}
        for a in cap["annotations"] if cap else []:
            if a.get("image_id") not in self.captions:
                raise ValueError(f"{captions}: caption annotation for unknown image_id {a.get('image_id')!r}")
            self.captions[a["image_id"]].append(a.get("caption", ""))
        self.classes = {c["id"]: c["name"] for c in self.det["categories"]} if self.det else {}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        image_id = self.ids[i]
        rgb, (h, w) = _read_rgb(self.files[image_id], self.size)
        out: dict[str, Any] = {"__key__": str(image_id), "image_id": image_id, "rgb": rgb,
                               "orig_size": np.array([h, w])}  # predictions are mapped back to it
        if self.det is not None:
            scale = np.array([self.size / w, self.size / h] * 2)
            b = np.array([[x, y, x + bw, y + bh] for (x, y, bw, bh), _ in self.boxes[image_id]],
                         dtype=np.float32).reshape(-1, 4) * scale
            keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])  # zero-area boxes cannot be regressed
            out["boxes"] = b[keep].astype(np.float32)  # [N, 4] xyxy in the resized image
            out["labels"] = np.array([c for _, c in self.boxes[image_id]], dtype=np.int64)[keep]
        if self.has_captions:
            out["caption"] = {"captions": self.captions[image_id]}
        return out


class FolderSegSet(Dataset):
    """ADE20K-style ``images/`` + ``annotations/`` folders, matched by file stem."""

    def __init__(self, root: str | Path, size: int, images: str = "images", labels: str = "annotations"):
        self.root, self.size = Path(root), int(size)
        img_dir, lab_dir = self.root / images, self.root / labels
        for d in (img_dir, lab_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"{d} is missing: an image/label folder set has {images}/ and {labels}/")
        self.items = []
        for f in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS):
            lab = lab_dir / f"{f.stem}.png"
            if not lab.is_file():
                raise FileNotFoundError(f"image {f} has no label map {lab}")
            self.items.append((f, lab))
        if not self.items:
            raise ValueError(f"{img_dir} holds no images ({', '.join(IMAGE_EXTS)})")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        img, lab = self.items[i]
        rgb, _ = _read_rgb(img, self.size)
        y = cv2.imread(str(lab), cv2.IMREAD_UNCHANGED)
        if y is None or y.ndim != 2:
            raise ValueError(f"{lab} is not a single-channel label PNG")
        y = cv2.resize(y, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        return {"__key__": img.stem, "rgb": rgb, "semseg": torch.from_numpy(y.astype(np.int64))}  # [S, S]


def read_class_names(path: str | Path) -> dict[int, str]:
    """``classes.json`` ({id: name} or [names], index = id) or ``classes.txt`` (one name per line, id 1..)."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): v for k, v in data.items()} if isinstance(data, dict) else dict(enumerate(data))
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {0: "unlabelled", **{i + 1: n for i, n in enumerate(names)}}


def read_vocabulary(path: str | Path) -> dict[int, str]:
    """The class vocabulary (id -> name) of a split dir (manifest ``classes``) or a folder set (classes file)."""
    p = Path(path)
    if (p / "manifest.json").is_file():
        return {int(k): v for k, v in json.loads((p / "manifest.json").read_text())["classes"].items()}
    for f in (p / "classes.json", p / "classes.txt", p):
        if f.is_file():
            return read_class_names(f)
    raise FileNotFoundError(f"{p}: no manifest.json, classes.json or classes.txt to read a class vocabulary from")


def open_external(path: str | Path, size: int, modalities: Sequence[str]) -> tuple[Dataset, dict[int, str]]:
    """``path`` -> (dataset, class vocabulary), recognising the layout from what is there."""
    from tst.dataset import ShardDataset
    from tst.shards import read_manifest

    p = Path(path)
    if (p / "manifest.json").is_file():
        return ShardDataset(p, modalities), {int(k): v for k, v in read_manifest(p).get("classes", {}).items()}
    if (p / "images").is_dir() and (p / "annotations").is_dir():
        classes = next((read_class_names(p / f) for f in ("classes.json", "classes.txt") if (p / f).is_file()), None)
        if classes is None:
            raise FileNotFoundError(f"{p} looks like an image/label folder set but has no classes.json / classes.txt")
        return FolderSegSet(p, size), classes
    jsons = sorted(p.glob("*.json")) if p.is_dir() else []
    inst = next((f for f in jsons if f.name.startswith("instances")), None)
    caps = next((f for f in jsons if f.name.startswith("captions")), None)
    if inst or caps:
        ds = CocoSet(p / "images" if (p / "images").is_dir() else p, size, inst, caps)
        return ds, ({0: "unlabelled", **ds.classes} if ds.classes else {})
    raise FileNotFoundError(f"{p}: not a split directory (manifest.json), an images/ + annotations/ folder set, "
                            f"or a COCO folder (instances*.json / captions*.json + images/)")
