"""COCO export of a labelled split, so transfer can treat our views like any COCO-format dataset.

A labelled split (``eval`` / ``external``) carries ``K.semseg.png`` and ``K.instance.png``; this turns
each instance of a "thing" class into a COCO annotation (bbox ``[x, y, w, h]``, pixel ``area``,
``iscrowd = 0``, RLE ``segmentation`` from pycocotools) and writes::

    <out_dir>/images/<K>.png        the stored rgb bytes, unchanged (.jpg when the split stores jpg)
    <out_dir>/instances.json        images, categories, annotations
    <out_dir>/captions.json         COCO captions format (when the split has K.caption.json members)

Category ids are the split's class ids, so a COCO category and a semseg label never disagree.
Structural "stuff" classes (wall, floor, ceiling, …) are skipped: a box around a wall is not an object.
Real datasets in COCO format can be swapped in for this output by transfer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from tst.atomic import write_bytes, write_json
from tst.shards import decode_member, iter_split, read_manifest

# Class names that never become COCO objects (matched case-insensitively). Override per call.
DEFAULT_STUFF_CLASSES: tuple[str, ...] = ("unlabelled", "wall", "floor", "ceiling", "window", "door",
                                          "background", "stuff")


def vocabulary(manifest: dict, where: str = "manifest.json") -> dict[int, str]:
    """Class id -> name from a manifest's vocabulary (``classes`` / ``class_names``: list or id->name dict)."""
    for key in ("classes", "class_names", "vocabulary"):
        vocab = manifest.get(key)
        if isinstance(vocab, list):
            return {i: str(n) for i, n in enumerate(vocab)}
        if isinstance(vocab, dict):
            return {int(i): str(n) for i, n in vocab.items()}
    raise KeyError(f"{where} has no class vocabulary: expected a 'classes' list (id -> name) or dict; "
                   f"it has keys {sorted(manifest)}. Re-collect the split with a labelled scene.")


def instance_annotations(semseg: np.ndarray, instance: np.ndarray, thing_ids: set[int], image_id: int,
                         first_ann_id: int, min_area: int = 1) -> list[dict]:
    """COCO annotations for every instance of a thing class in one view.

    semseg, instance: [H, W] uint16. The class of an instance is the majority class of its pixels
    (they agree for rendered views; the vote only guards against label noise of other sources).
    """
    anns: list[dict] = []
    for inst in np.unique(instance):
        if inst == 0:
            continue
        m = instance == inst  # [H, W] bool
        classes, counts = np.unique(semseg[m], return_counts=True)
        cls = int(classes[np.argmax(counts)])
        area = int(m.sum())
        if cls not in thing_ids or area < min_area:
            continue
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rows, cols = np.nonzero(m)
        x0, y0 = int(cols.min()), int(rows.min())
        bbox = [x0, y0, int(cols.max()) - x0 + 1, int(rows.max()) - y0 + 1]
        anns.append({
            "id": first_ann_id + len(anns), "image_id": image_id, "category_id": cls,
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": area, "bbox": [float(v) for v in bbox], "iscrowd": 0, "instance_id": int(inst),
        })
    return anns


def export_coco(split_dir: str | Path, out_dir: str | Path, stuff_classes: Iterable[str] = DEFAULT_STUFF_CLASSES,
                min_area: int = 1, manifest: dict | None = None,
                caption_fn: Callable[[dict], list[str]] | None = None) -> dict:
    """Write ``images/``, ``instances.json`` and ``captions.json`` for a labelled split; returns counts.

    Fails naming the split when a sample lacks ``semseg`` or ``instance`` (a pretrain split is not
    labelled: collect with ``split=eval`` or ``split=external``). ``manifest`` is read from the split
    when not given (the collector passes it before the file is written). ``caption_fn`` makes the
    captions of samples without a ``K.caption.json`` member from the decoded sample (rgb, depth,
    semseg, instance, meta).
    """
    split_dir, out_dir = Path(split_dir), Path(out_dir)
    manifest = read_manifest(split_dir) if manifest is None else manifest
    vocab = vocabulary(manifest, str(split_dir / "manifest.json"))
    stuff = {s.lower() for s in stuff_classes}
    thing_ids = {i for i, n in vocab.items() if i > 0 and n.lower() not in stuff}
    categories = [{"id": i, "name": vocab[i], "supercategory": "object"} for i in sorted(thing_ids)]

    images: list[dict] = []
    annotations: list[dict] = []
    captions: list[dict] = []
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    for sample in iter_split(split_dir, decode=False):
        key = sample["__key__"]
        missing = [m for m in ("rgb", "semseg", "instance") if m not in sample]
        if missing:
            raise ValueError(f"{split_dir}: sample {key} has no {missing} member(s); COCO export needs a "
                             f"labelled split (collect with split=eval or split=external)")
        rgb_bytes = sample["rgb"]
        ext = "jpg" if rgb_bytes[:2] == b"\xff\xd8" else "png"  # JPEG magic number
        semseg = decode_member("semseg.png", sample["semseg"])  # [H, W] uint16
        instance = decode_member("instance.png", sample["instance"])  # [H, W] uint16
        h, w = instance.shape
        image_id = len(images) + 1
        file_name = f"{key}.{ext}"
        write_bytes(out_dir / "images" / file_name, rgb_bytes)
        images.append({"id": image_id, "file_name": file_name, "width": int(w), "height": int(h),
                       "key": key})
        annotations += instance_annotations(semseg, instance, thing_ids, image_id, len(annotations) + 1, min_area)
        texts: list[str] = []
        if "caption" in sample:
            value = json.loads(sample["caption"])
            texts = value.get("captions", []) if isinstance(value, dict) else value
        elif caption_fn is not None:
            decoded = {"rgb": decode_member(f"rgb.{ext}", rgb_bytes), "semseg": semseg, "instance": instance,
                       "meta": json.loads(sample["meta"]) if "meta" in sample else {}}
            if "depth" in sample:
                decoded["depth"] = decode_member("depth.png", sample["depth"])
            texts = caption_fn(decoded)
        for text in texts:
            captions.append({"id": len(captions) + 1, "image_id": image_id, "caption": str(text)})

    info = {"description": f"tst COCO export of {split_dir}", "scene_id": manifest.get("scene_id"),
            "split": manifest.get("split")}
    write_json(out_dir / "instances.json", {"info": info, "licenses": [], "images": images,
                                            "categories": categories, "annotations": annotations}, indent=None)
    if captions:
        write_json(out_dir / "captions.json", {"info": info, "licenses": [], "images": images,
                                               "annotations": captions}, indent=None)
    return {"dir": str(out_dir), "images": len(images), "annotations": len(annotations),
            "categories": [c["name"] for c in categories], "captions": len(captions)}
