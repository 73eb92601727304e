"""The one batch-loading path of every stage: a ``DataLoader`` whose worker processes decode while
the trainer steps, fed by a plan of which samples make each batch.

Which sample sits at a global position is a pure function of ``(seed, epoch, position)``
(``sample_index``), so a run killed and resumed from a checkpoint's data position loads exactly the
batches it would have loaded, whatever the number of workers; DDP ranks take disjoint slices of
every global batch (``PositionPlan``). Workers only change *when* a batch is decoded, never *what*
is in it. On CUDA the batches land in pinned memory and are copied with ``non_blocking=True``.

    plan = PositionPlan(len(ds), seed, global_batch=32, micro=16, accum=2, start=position, steps=100)
    for batch in load(ds, plan, workers="auto", device=device):
        batch = to_device(batch, device)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tst.dataset import collate, finish_stored


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    perm.flags.writeable = False
    return perm


def sample_index(position: int, n: int, seed: int) -> tuple[int, int]:
    """Global sample position -> (dataset index, epoch). Each epoch is a fresh seeded permutation,
    built once per epoch and cached, so a lookup is O(1) (it used to rebuild it for every sample)."""
    if n < 1:
        raise ValueError(f"sample_index needs a dataset of at least one sample, got n={n}")
    epoch, offset = divmod(int(position), int(n))
    return int(_permutation(int(n), int(seed), epoch)[offset]), epoch


class PositionPlan(Sampler[list]):
    """Micro-batches of ``steps`` optimizer steps from global position ``start`` (a batch sampler).

    Step ``k`` covers positions ``[start + k * global_batch, …)``; its micro-step ``j`` gives rank
    ``rank`` the ``micro`` positions from ``j * micro * world + rank * micro`` — so ranks are
    disjoint and together cover the global batch. Each item is ``(index, epoch)`` (for datasets
    whose augmentation depends on the epoch, like ``ShardDataset``) or, with ``epochs=False``, the
    plain index. ``subset`` maps the drawn index into a subset of the dataset (a train split).
    """

    def __init__(self, n: int, seed: int, global_batch: int, start: int = 0, steps: int = 1, micro: int | None = None,
                 accum: int = 1, rank: int = 0, world: int = 1, subset: Sequence[int] | None = None,
                 epochs: bool = True) -> None:
        micro = global_batch // (accum * world) if micro is None else micro
        if micro * accum * world != global_batch:
            raise ValueError(f"global batch {global_batch} is not micro={micro} x accum={accum} x world={world}")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world size {world}")
        self.n = len(subset) if subset is not None else int(n)
        self.seed, self.gbatch, self.start, self.steps = int(seed), int(global_batch), int(start), int(steps)
        self.micro, self.accum, self.rank, self.world = int(micro), int(accum), int(rank), int(world)
        self.subset, self.epochs = (list(subset) if subset is not None else None), epochs

    def __len__(self) -> int:
        return max(0, self.steps) * self.accum

    def item(self, position: int) -> Any:
        idx, epoch = sample_index(position, self.n, self.seed)
        idx = self.subset[idx] if self.subset is not None else idx
        return (idx, epoch) if self.epochs else idx

    def __iter__(self) -> Iterator[list]:
        for k in range(max(0, self.steps)):
            for j in range(self.accum):
                lo = self.start + k * self.gbatch + j * self.micro * self.world + self.rank * self.micro
                yield [self.item(p) for p in range(lo, lo + self.micro)]


def resolve_workers(workers: int | str, trainer_threads: int | None = None,
                    device: torch.device | str = "cpu") -> int:
    """``workers=auto``: the cores this process may use minus the trainer's threads (0 allowed).

    The trainer's threads are its torch threads on CPU; on CUDA it needs one core to launch kernels.
    Under torchrun the cores are shared by the ``LOCAL_WORLD_SIZE`` processes of this machine.
    """
    if workers == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        cores //= max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        if trainer_threads is None:
            trainer_threads = 1 if torch.device(device).type == "cuda" else torch.get_num_threads()
        threads = int(trainer_threads)
        return max(0, cores - threads)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers={workers!r} is invalid; give auto or a number of loader processes >= 0 "
                         f"(0 loads in the training process)")
    return workers


def pin_memory_for(device: torch.device | str) -> bool:
    """Pinned host memory only pays off (and only works) when batches go to a CUDA device."""
    return torch.device(device).type == "cuda"


def load(dataset: Dataset, plan: Iterable[list], workers: int | str = "auto", device: torch.device | str = "cpu",
         collate_fn: Callable[[list], Any] = collate, prefetch: int = 2) -> DataLoader:
    """A DataLoader that yields ``collate_fn`` of each list of items in ``plan`` (in order).

    Worker processes persist for the loader's life; ``workers=0`` loads in this process.
    """
    n = resolve_workers(workers, device=device)
    if n > 0:
        # Workers are forked. cv2's thread pool must hold no threads at that moment: a worker inherits
        # its mutexes locked and hangs in its first cv2 call (seen in tests/transfer/test_deploy.py).
        # One cv2 thread per process is what we want anyway: the processes are the parallelism.
        cv2.setNumThreads(1)
    return DataLoader(dataset, batch_sampler=plan, num_workers=n, collate_fn=collate_fn,
                      pin_memory=pin_memory_for(device), persistent_workers=n > 0,
                      prefetch_factor=prefetch if n > 0 else None)


def to_device(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """Tensors of ``batch`` onto ``device`` (non-blocking from pinned memory on CUDA); the rest as is.
    Stored-dtype images (``ShardDataset(stored=True)``) become floats there, after the smaller copy."""
    device = torch.device(device)
    non_blocking = device.type == "cuda"
    return finish_stored({k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
                          for k, v in batch.items()})
