"""What the collector does once every shard of a split is written: the split-level artefacts.

``finish_split`` is the one call ``collect/run.py`` makes at the end; it returns the keys to add to
``manifest.json`` (the collector writes the manifest, so there is one writer). Per split it adds:

- ``coco``: for labelled splits, a COCO export under ``<split>/coco/`` (images, instances, captions —
  from the ``K.caption.json`` members, or made here from the scenes when the split has none);
- ``leakage``: when ``options["leakage_ref"]`` names a pretrain split, how close each view of this
  split comes to a pretrain view (the held-out set must not be the training set seen again);
- ``preview``: when ``options["preview"]`` is true, a contact sheet and a top-down map (PNG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tst.collect.captions import captions_for_view
from tst.collect.coco import DEFAULT_STUFF_CLASSES, export_coco
from tst.collect.leakage import leakage_report, split_poses
from tst.collect.preview import write_previews
from tst.envs.scene import Scene

LABELLED_SPLITS = ("eval", "external")


def is_labelled(manifest: dict) -> bool:
    """A split is labelled when it stores semseg and instance (eval / external splits do)."""
    mods = manifest.get("modalities") or []
    if mods:
        return "semseg" in mods and "instance" in mods
    return manifest.get("split") in LABELLED_SPLITS


def caption_maker(scenes: list[Scene], seed: int):
    """Captions for samples stored without a caption member, from their scene (None without scenes)."""
    by_id = {s.scene_id: s for s in scenes}
    if not by_id:
        return None

    def make(sample: dict) -> list[str]:
        meta = sample["meta"]
        scene = by_id.get(meta.get("scene_id"))
        if scene is None:
            raise KeyError(f"sample of scene {meta.get('scene_id')!r} has no scene among {sorted(by_id)}")
        return captions_for_view(sample, scene, 5, np.random.default_rng([seed, int(meta.get("index", 0))]))

    return make


def finish_split(split_dir: Path, scenes: list[Scene], manifest: dict, options: dict[str, Any]) -> dict:
    """Write the split-level artefacts of a finished split; returns the manifest additions.

    options (all optional):
      coco: bool — export COCO (default: when the split is labelled)
      stuff_classes: list[str] — classes left out of the COCO objects (default DEFAULT_STUFF_CLASSES)
      leakage_ref: path of a pretrain split dir to measure leakage against
      leakage: {max_dist: metres, max_angle: degrees} thresholds of the leakage report
      preview: bool — write preview PNGs under <split>/preview/
      preview_rows: int — frames in the contact sheet (default 6)
    """
    split_dir = Path(split_dir)
    additions: dict[str, Any] = {}
    want_coco = options.get("coco")
    if want_coco is None:
        want_coco = is_labelled(manifest)
    if want_coco:
        if not is_labelled(manifest):
            raise ValueError(f"{split_dir}: coco=true needs a labelled split (semseg + instance); this split "
                             f"stores {manifest.get('modalities')}. Collect with split=eval or split=external.")
        stuff = options.get("stuff_classes") or DEFAULT_STUFF_CLASSES
        info = export_coco(split_dir, split_dir / "coco", stuff_classes=stuff, manifest=manifest,
                           caption_fn=caption_maker(scenes, int(manifest.get("seed") or 0)))
        info["dir"] = "coco"  # relative to the split dir, so the split can be moved
        additions["coco"] = info
    ref = options.get("leakage_ref")
    if ref:
        ref = Path(ref)
        if ref.resolve() == split_dir.resolve():
            raise ValueError(f"leakage_ref={ref} is the split itself; name the PRETRAIN split dir")
        thresholds = dict(options.get("leakage") or {})
        ref_keys, ref_poses = split_poses(ref)
        keys, poses = split_poses(split_dir)
        report = leakage_report(poses, ref_poses, float(thresholds.get("max_dist", 0.5)),
                                float(thresholds.get("max_angle", 30.0)), keys, ref_keys)
        additions["leakage"] = {"ref": str(ref), **report}
    if options.get("preview"):
        info = write_previews(split_dir, split_dir / "preview", scenes, rows=int(options.get("preview_rows", 6)))
        additions["preview"] = {"dir": "preview", **info}
    return additions
