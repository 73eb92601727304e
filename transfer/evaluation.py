"""The one evaluation loop of transfer (held-out external views) and deploy (test-space eval views).

Both feed batches to a ``predict`` and the task's ``ground_truth`` into an evaluator with detectron2's
``reset / process(inputs, outputs) / evaluate`` interface; what differs is passed in: how outputs are
made (the task model in transfer; the perception plugin plus the vocabulary map in deploy) and what
is done with each batch afterwards (prediction files and the preview; overlay rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from tst.loader import load, to_device
from tst.progress import bar

Batch = dict[str, Any]


def evaluate_loop(ds: Dataset, indices: Sequence[int], batch_size: int, evaluator: Any,
                  predict: Callable[[Batch], list[dict]], truth: Callable[[Batch, list], list[dict]],
                  device: torch.device | str, move: bool = True, workers: int | str = "auto",
                  progress: bool = True, desc: str = "eval",
                  on_batch: Callable[[list[int], list, Batch, list[dict], list[dict]], None] | None = None,
                  ) -> tuple[dict[str, float], float, float]:
    """Score ``indices`` of ``ds`` in chunks of ``batch_size``; returns (metrics, seconds in ``predict``,
    wall seconds over the batches). ``move``: put each batch on ``device`` first (else ``predict`` does it). Image ids are
    the batch's ``image_id`` (COCO sets keep theirs) or the sample indices."""
    t0, in_predict = time.perf_counter(), 0.0
    chunks = [list(indices[lo:lo + batch_size]) for lo in range(0, len(indices), batch_size)]
    batches = bar(load(ds, chunks, workers, device), total=len(chunks), desc=desc, unit="batch", enabled=progress)
    for idx, batch in zip(chunks, batches, strict=True):
        if move:
            batch = to_device(batch, device)
        ids = batch.get("image_id") or idx
        t = time.perf_counter()
        outs = predict(batch)
        in_predict += time.perf_counter() - t
        gts = truth(batch, ids)
        evaluator.process(gts, outs)
        if on_batch is not None:
            on_batch(idx, ids, batch, gts, outs)
    wall = time.perf_counter() - t0  # the views' time, not the evaluator's final tally
    return evaluator.evaluate(), in_predict, wall
