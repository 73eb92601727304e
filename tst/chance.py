"""Chance levels: what a predictor that never looks at the image scores on a test space's eval split.

A report that says "mIoU 31" means little without the floor beside it. The floors are scored with the
same evaluators as the heads, on the same eval views:
- semseg: the split's most frequent class predicted at every pixel (the majority-class baseline);
- det: no detections at all (AP 0: a box detector that ignores the image finds nothing reliably);
- caption: one fixed sentence for every view — the reference caption used most often across the split;
- depth: one constant depth for every pixel — the split's median over pixels with a hit.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from tst.dataset import ShardDataset
from tst.metrics.captioning import CaptionEvaluator
from tst.metrics.depth import DepthEvaluator
from tst.metrics.semseg import SemSegEvaluator
from tst.shards import read_manifest


def _vocabulary(manifest: dict) -> dict[int, str]:
    return {int(k): v for k, v in manifest["classes"].items() if int(k) != 0}


def semseg_chance(split_dir: str | Path) -> float:
    """mIoU (0-100) of predicting the split's most frequent labelled class everywhere."""
    split_dir = Path(split_dir)
    ds = ShardDataset(split_dir, ["semseg"])
    maps = [ds[i]["semseg"].numpy() for i in range(len(ds))]  # [H, W] class ids each
    counts = np.bincount(np.concatenate([m.ravel() for m in maps]).astype(np.int64))
    counts[0] = 0  # unlabelled is ignored by the metric
    majority = int(counts.argmax())
    ev = SemSegEvaluator(_vocabulary(read_manifest(split_dir)))
    ev.process([{"semseg": m} for m in maps], [{"semseg": np.full_like(m, majority)} for m in maps])
    return float(ev.evaluate()["semseg/mIoU"])


def caption_chance(split_dir: str | Path, use_java: bool | None = None) -> float:
    """CIDEr of one constant caption (the split's most used reference) for every view."""
    ds = ShardDataset(Path(split_dir), ["caption"])
    refs = [ds[i]["caption"]["captions"] for i in range(len(ds))]
    constant = Counter(c for r in refs for c in r).most_common(1)[0][0]
    ev = CaptionEvaluator(use_java=use_java)
    ev.process([{"image_id": i, "captions": r} for i, r in enumerate(refs)], [{"caption": constant}] * len(refs))
    return float(ev.evaluate()["caption/CIDEr"])


def depth_chance(split_dir: str | Path) -> dict[str, float]:
    """``depth/*`` of predicting the split's median hit depth at every pixel."""
    ds = ShardDataset(Path(split_dir), ["depth"])
    maps = [ds[i]["depth"].numpy()[0] for i in range(len(ds))]  # [H, W] metres, 0 = no hit
    hits = np.concatenate([m[m > 0] for m in maps])
    if hits.size == 0:
        raise ValueError(f"{split_dir}: no pixel has a depth; nothing to score depth chance on")
    ev = DepthEvaluator()
    ev.process([{"depth": m} for m in maps], [{"depth": np.full_like(m, float(np.median(hits)))} for m in maps])
    return ev.evaluate()


def chance_levels(split_dir: str | Path, tasks: tuple[str, ...], use_java: bool | None = None) -> dict[str, float]:
    """``{metric key: chance score}`` for the tasks whose members the split holds."""
    split_dir = Path(split_dir)
    members = set(read_manifest(split_dir).get("members", []))
    out: dict[str, float] = {}
    if "semseg" in tasks:
        out["semseg/mIoU"] = semseg_chance(split_dir)
    if "det" in tasks:
        out["det/AP50"] = 0.0
    if "caption" in tasks and "caption.json" in members:
        out["caption/CIDEr"] = caption_chance(split_dir, use_java)
    if "depth" in tasks and "depth.png" in members:
        out.update(depth_chance(split_dir))
    return out
