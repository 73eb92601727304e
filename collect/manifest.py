"""What a split directory says about itself: ``manifest.json`` (contract in ARCHITECTURE.md).

The manifest names the format version, the scene(s) and a hash of their content, the stored
modalities, the class vocabulary, counts, the seed, the collection config and a content hash of
the shards. Two collections with the same config end with the same ``content_hash`` however they
were run (workers, interruptions and resumes), which is what the resume tests compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tst.envs.scene import Scene, scene_hash
from tst.shards import list_shards

FORMAT_VERSION = 1
_CHUNK = 1 << 20


def shard_hashes(split_dir: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """(content hash = sha256 over all shard bytes in order, [{name, bytes, sha256} per shard])."""
    total = hashlib.sha256()
    per: list[dict[str, Any]] = []
    for shard in list_shards(split_dir):
        h = hashlib.sha256()
        size = 0
        with open(shard, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                total.update(chunk)
                size += len(chunk)
        per.append({"name": shard.name, "bytes": size, "sha256": h.hexdigest()})
    return total.hexdigest(), per


def merge_vocabularies(scenes: Sequence[Scene]) -> tuple[list[str], list[np.ndarray]]:
    """One class vocabulary for several scenes, and per scene a lookup [C_scene] local id -> global id.

    Scenes from one generator share a vocabulary (the lookups are identities); loaded scenes may
    not, and a split must not give one id two meanings.
    """
    names: list[str] = list(scenes[0].class_names)
    for s in scenes[1:]:
        names += [n for n in s.class_names if n not in names]
    index = {n: i for i, n in enumerate(names)}
    lookups = [np.array([index[n] for n in s.class_names], dtype=np.uint16) for s in scenes]
    return names, lookups


def build_manifest(*, split: str, scenes: Sequence[Scene], class_names: Sequence[str], modalities: Sequence[str],
                   members: Sequence[str], frames_requested: int, frames_written: int, per_scene: dict[str, int],
                   seed: int, config: dict, split_dir: str | Path, policy_reports: dict[str, dict],
                   intrinsics: dict, shard_size: int) -> dict[str, Any]:
    """The manifest of a finished (or partly finished) split; hashes the shards on disk."""
    content, shards = shard_hashes(split_dir)
    return {
        "format_version": FORMAT_VERSION,
        "split": split,
        "scene_id": scenes[0].scene_id if len(scenes) == 1 else None,
        "scene_ids": [s.scene_id for s in scenes],
        "scene_hashes": {s.scene_id: scene_hash(s) for s in scenes},
        "scene_sources": {s.scene_id: s.source for s in scenes},
        "modalities": list(modalities),  # every member a sample carries (besides meta)
        "members": list(members),  # member suffixes, e.g. "rgb.png"
        "classes": {str(i): n for i, n in enumerate(class_names)},
        "counts": {split: frames_written},
        "counts_per_scene": per_scene,
        "frames_requested": frames_requested,
        # explore stops at its coverage target: fewer frames than asked is then the expected outcome
        "complete": frames_written == frames_requested or bool(
            policy_reports and all(r.get("target_reached") for r in policy_reports.values())),
        "seed": seed,
        "intrinsics": intrinsics,
        "shard_size": shard_size,
        "shards": shards,
        "content_hash": content,
        "policy": policy_reports,
        "config": config,
    }
