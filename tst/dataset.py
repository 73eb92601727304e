"""Reading split directories as torch datasets: random access for small sets, streaming for scale.

``ShardDataset`` indexes every member's byte range once (tar headers only, no decoding), so
``dataset[i]`` seeks straight to the bytes it needs. ``ShardStream`` reads whole shards in order
and splits them across DataLoader workers and DDP ranks, which is what scales to many shards.

Both decode with ``tst.shards`` and convert to tensors with ``to_tensors``: rgb float32 [3, H, W]
in [0, 1], depth float32 [1, H, W] metres, normal float32 [3, H, W], edges float32 [1, H, W] in
{0, 1}, semseg / instance int64 [H, W]; ``meta`` (and ``caption``) stay plain Python objects.

``ShardDataset`` keeps members as stored (uint8 / uint16) until the end: its ``augment`` crops and
resizes those small integer arrays, and only the kept pixels are converted to float (issue 13).
It is what every stage reads through (``tst.loader``). Why random access rather than streaming:
the byte-range index is tar headers only (~100 bytes a sample, so 100k views is ~10 MB), a lookup
is one seek, and it lets the sample at every global position be a pure function of
(seed, epoch, position) — which is what makes a killed run resume on the same loss curve, bit for
bit, and DDP ranks read disjoint positions without coordination. A shuffle buffer cannot resume
mid-epoch without replaying it. ``ShardStream`` stays for one-pass reads of splits too large to
index (or on storage without seeks).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from tst.augment import AlignedAugment
from tst.modalities import MODALITIES
from tst.shards import ShardError, check_manifest, index_shard, iter_shard, list_shards, read_members

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def _chw(v: np.ndarray) -> torch.Tensor:
    """[H, W] / [H, W, C] numpy -> contiguous [C, H, W] tensor in the same dtype (no copy for [H, W])."""
    return torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1) if v.ndim == 3 else v[None]))


def to_tensors(sample: dict[str, Any], modalities: Sequence[str], stored: bool = False) -> dict[str, Any]:
    """Decoded (or stored: uint16 depth, uint8 normal) numpy members -> the tensor layout above,
    keeping only ``modalities`` (+ meta, key). The layout is the modality table's: ``kind`` "meta"
    stays a Python object, "label" becomes int64 [H, W], "image" float [C, H, W] through the entry's
    ``to_float`` when the array is in its stored dtype. ``stored=True`` keeps the ``ships_stored``
    modalities (rgb / depth / normal) in their stored integer dtypes ([C, H, W] uint8 / uint16, 2-4x
    smaller to pass between processes and to copy to a GPU); ``finish_stored`` converts them there."""
    out: dict[str, Any] = {"__key__": sample["__key__"]}
    for name in dict.fromkeys([*modalities, "meta"]):
        if name not in sample:
            continue
        v, m = sample[name], MODALITIES.get(name)
        if not isinstance(v, np.ndarray) or (m is not None and m.kind == "meta"):
            out[name] = v
        elif m is not None and m.kind == "label":
            out[name] = torch.from_numpy(v.astype(np.int64))  # [H, W]
        elif m is not None and m.to_float is not None and v.dtype == m.stored and v.ndim in (2, 3):
            chw = _chw(v)  # [C, H, W] as stored
            out[name] = chw if stored and m.ships_stored else m.to_float(chw)
        elif v.ndim in (2, 3):
            out[name] = _chw(v.astype(np.float32, copy=False))  # [C, H, W] float32 (already decoded)
        else:
            out[name] = torch.from_numpy(np.asarray(v))
    return out


def finish_stored(batch: dict[str, Any]) -> dict[str, Any]:
    """Stored-dtype tensors of ``ships_stored`` modalities (``stored=True``) -> the float layout, on
    whatever device they are on, with the entry's ``to_float`` (the ops ``to_tensors`` uses)."""
    out = dict(batch)
    for name, x in batch.items():
        m = MODALITIES.get(name)
        if (m is not None and m.ships_stored and isinstance(x, torch.Tensor)
                and x.dtype == getattr(torch, m.stored)):
            out[name] = m.to_float(x)
    return out


def _stack(vals: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack; in a DataLoader worker straight into shared memory, so the batch crosses to the
    trainer without another copy (what torch's default_collate does)."""
    if get_worker_info() is None:
        return torch.stack(vals)
    storage = vals[0]._typed_storage()._new_shared(len(vals) * vals[0].numel(), device=vals[0].device)
    out = vals[0].new(storage).resize_(len(vals), *vals[0].shape)
    return torch.stack(vals, out=out)


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors into [B, …]; keep ``meta``, ``caption`` and ``__key__`` as lists of length B."""
    out: dict[str, Any] = {}
    for k in batch[0]:
        vals = [b[k] for b in batch]
        out[k] = _stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out


def _check_modalities(have: set[str], wanted: Sequence[str], where: str) -> None:
    missing = [m for m in wanted if m not in have]
    if missing:
        raise KeyError(f"{where} has no {missing} member(s); the shards hold: {sorted(have)}. "
                       f"Collect a split that carries them (e.g. split=eval for semseg/instance, "
                       f"extras=[edges] for edges) or ask for fewer modalities.")


class ShardDataset(Dataset):
    """Map-style dataset over a split directory: ``ds[i]`` decodes sample ``i`` only.

    ``ds[(i, epoch)]`` is sample ``i`` with the ``augment`` draw of that epoch (what ``tst.loader``
    asks for); ``augment`` runs on the stored arrays, ``transform`` afterwards on the tensors.
    ``stored=True`` hands rgb / depth / normal over as stored integers (see ``to_tensors``);
    ``tst.loader.to_device`` makes them floats on the training device.

    ``on_error="raise"`` fails on a corrupted shard or member naming both; ``"warn"`` skips what
    cannot be read with a warning (unreadable tails while indexing; an undecodable sample is
    replaced by the next readable one).
    """

    def __init__(self, split_dir: str | Path, modalities: Sequence[str], transform: Transform | None = None,
                 on_error: str = "raise", augment: AlignedAugment | None = None, stored: bool = False) -> None:
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
        self.split_dir, self.modalities = Path(split_dir), tuple(modalities)
        self.transform, self.on_error, self.augment, self.stored = transform, on_error, augment, stored
        # one entry per sample: (shard path, key, {member suffix: (offset, size)})
        self.index: list[tuple[Path, str, dict[str, tuple[int, int]]]] = []
        shards = list_shards(self.split_dir)
        manifest = check_manifest(self.split_dir, shards, on_error)
        for shard in shards:
            self.index += [(shard, key, members) for key, members in index_shard(shard, on_error)]
        if not self.index:
            raise ShardError(f"{self.split_dir} holds no readable samples")
        counts = (manifest or {}).get("counts")
        counted = sum(counts.values()) if isinstance(counts, dict) else None
        if counted is not None and counted != len(self.index) and on_error == "raise":
            raise ShardError(f"{self.split_dir} holds {len(self.index)} samples but its manifest.json counts {counted}; "
                             f"the split changed after collection: collect it again")
        for shard, key, members in self.index:
            have = {s.rpartition(".")[0] for s in members}
            _check_modalities(have, self.modalities, f"sample {key} of shard {shard}")

    def __len__(self) -> int:
        return len(self.index)

    def _load(self, i: int) -> dict[str, Any]:
        shard, key, members = self.index[i]
        with open(shard, "rb") as fh:
            return read_members(fh, shard, key, members, lambda m: m in self.modalities or m == "meta", stored=True)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        i, epoch = item if isinstance(item, tuple) else (item, None)
        for j in range(len(self.index)):
            idx = (i + j) % len(self.index)
            try:
                sample = self._load(idx)
            except ShardError as e:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"{e} — using the next readable sample", stacklevel=2)
                continue
            if self.augment is not None:
                sample = self.augment(sample, epoch=epoch)
            out = to_tensors(sample, self.modalities, self.stored)
            return self.transform(out) if self.transform is not None else out
        raise ShardError(f"no sample of {self.split_dir} can be decoded")


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ShardStream(IterableDataset):
    """Stream a split shard by shard; each (rank, DataLoader worker) reads a disjoint set of shards.

    For one-pass reads only; training reads through ``ShardDataset`` (see the module docstring).

    Shards are shuffled per epoch from ``(seed, epoch)`` and samples pass through a shuffle buffer
    of ``shuffle_buffer`` samples (0 = stored order), so memory is bounded by the buffer, not the split.
    """

    def __init__(self, split_dir: str | Path, modalities: Sequence[str], shuffle_buffer: int = 0, seed: int = 0,
                 transform: Transform | None = None, on_error: str = "raise") -> None:
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
        self.shards = list_shards(split_dir)
        check_manifest(split_dir, self.shards, on_error)
        self.modalities, self.shuffle_buffer, self.seed = tuple(modalities), int(shuffle_buffer), int(seed)
        self.transform, self.on_error, self.epoch = transform, on_error, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def my_shards(self) -> list[Path]:
        """The shards this rank and DataLoader worker read this epoch (disjoint across all of them)."""
        rank, world = _rank_and_world()
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        order = list(self.shards)
        if self.shuffle_buffer > 0:
            np.random.default_rng([self.seed, self.epoch]).shuffle(order)
        return order[rank * nworkers + wid::world * nworkers]

    def _samples(self) -> Iterator[dict[str, Any]]:
        for shard in self.my_shards():
            for sample in iter_shard(shard, on_error=self.on_error):
                _check_modalities(set(sample) - {"__key__"}, self.modalities,
                                  f"sample {sample['__key__']} of shard {shard}")
                yield sample

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, _ = _rank_and_world()
        info = get_worker_info()
        rng = np.random.default_rng([self.seed, self.epoch, rank, info.id if info else 0])
        buf: list[dict[str, Any]] = []
        for sample in self._samples():
            if self.shuffle_buffer <= 0:
                yield self._finish(sample)
                continue
            buf.append(sample)
            if len(buf) >= self.shuffle_buffer:
                j = int(rng.integers(len(buf)))
                buf[j], buf[-1] = buf[-1], buf[j]
                yield self._finish(buf.pop())
        rng.shuffle(buf)
        for sample in buf:
            yield self._finish(sample)

    def _finish(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = to_tensors(sample, self.modalities)
        return self.transform(out) if self.transform is not None else out
