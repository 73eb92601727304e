"""Map an external label vocabulary onto the test space's vocabulary by class name.

Heads are finetuned on other spaces (or on COCO/ADE-style datasets) whose class ids mean something
else; what they share with the test space is the class *names*. Names are compared after light
normalisation (case, ``_``/``-``, surrounding spaces), optionally through a synonym table
(``{"couch": "sofa"}``). Classes with no counterpart are not guessed: they map to the ignore id and
are returned so the caller can report them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

Vocab = Mapping[int, str] | Sequence[str]


def normalize_name(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def as_vocab(names: Vocab, what: str) -> dict[int, str]:
    """id -> name from a mapping (JSON keys may be strings) or a list (index = id)."""
    if isinstance(names, Mapping):
        try:
            return {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise ValueError(f"{what}: vocabulary keys must be integer class ids, got {list(names)[:5]}") from None
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"{what}: expected a mapping id -> name or a list of names, got {type(names).__name__}")
    return {i: str(n) for i, n in enumerate(names)}


def map_classes(src_names: Vocab, dst_names: Vocab, synonyms: Mapping[str, str] | None = None,
                ignore_id: int = 0) -> tuple[np.ndarray, list[str]]:
    """Build a lookup table from source class ids to destination class ids.

    Returns ``(lut, unmapped)``: ``lut[src_id]`` is the destination id, or ``ignore_id`` for classes
    without a counterpart (and for the source's own ``ignore_id``); ``unmapped`` lists the source
    names that were dropped. ``synonyms`` maps source names to destination names.
    """
    src, dst = as_vocab(src_names, "src_names"), as_vocab(dst_names, "dst_names")
    if not src:
        raise ValueError("map_classes: the source vocabulary is empty")
    if any(i < 0 for i in src):
        raise ValueError(f"map_classes: negative source class ids {sorted(i for i in src if i < 0)}")
    by_name: dict[str, int] = {}
    for i, n in dst.items():
        if i == ignore_id:
            continue
        key = normalize_name(n)
        if key in by_name:
            raise ValueError(f"map_classes: destination vocabulary names {key!r} twice "
                             f"(ids {by_name[key]} and {i}); class names must be unique")
        by_name[key] = i
    syn = {normalize_name(k): normalize_name(v) for k, v in (synonyms or {}).items()}
    bad_syn = sorted(v for v in syn.values() if v not in by_name)
    if bad_syn:
        raise ValueError(f"map_classes: synonyms point to {bad_syn}, which are not destination classes; "
                         f"destination classes: {sorted(by_name)}")
    lut = np.full(max(src) + 1, ignore_id, dtype=np.int64)
    unmapped = []
    for i, n in sorted(src.items()):
        if i == ignore_id:
            continue
        key = normalize_name(n)
        key = syn.get(key, key)
        if key in by_name:
            lut[i] = by_name[key]
        else:
            unmapped.append(n)
    if unmapped:
        log.warning("class map: %d of %d source classes have no destination class and are ignored: %s",
                    len(unmapped), len(src) - (ignore_id in src), ", ".join(unmapped))
    return lut, unmapped


def apply_lut(labels: torch.Tensor | np.ndarray, lut: np.ndarray, ignore_id: int = 0):
    """Remap a label map (any shape) through ``lut``; ids beyond the table become ``ignore_id``."""
    if isinstance(labels, torch.Tensor):
        t = torch.as_tensor(lut, device=labels.device)
        safe = torch.where((labels >= 0) & (labels < len(lut)), labels, torch.zeros_like(labels))
        out = t[safe.long()]
        return torch.where((labels >= 0) & (labels < len(lut)), out, torch.full_like(out, ignore_id))
    a = np.asarray(labels)
    ok = (a >= 0) & (a < len(lut))
    return np.where(ok, lut[np.where(ok, a, 0)], ignore_id)
