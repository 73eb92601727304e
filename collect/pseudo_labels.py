"""``tst collect augment data=<split> labeller=<timm|torchscript> out=<new split>``: add a pseudo modality.

Runs a labeller (``tst.collect.labellers``) over the stored RGB of a split and writes a NEW split
whose shards carry every original member byte for byte plus ``K.<name>.png`` / ``K.<name>.npy``, with
the same shard names and sample order. The manifest is the source's, updated with the new modality,
the labeller's state (model, checkpoint, the PCA fitted on this split) and fresh content hashes.
A re-run with the same config skips the output shards already written (they appear atomically).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import Dataset

from tst.atomic import write_json
from tst.collect.labellers import Labeller
from tst.loader import load
from tst.modalities import MODALITIES
from tst.progress import bar
from tst.rundir import open_run_dir
from tst.runlog import make_logger
from tst.shards import (
    SHARD_PATTERN,
    ShardError,
    ShardWriter,
    check_manifest,
    decode_member,
    encode_member,
    index_shard,
    list_shards,
    read_manifest,
)


def raw_samples(shard: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {member suffix: bytes}) of one shard in stored order, suffixes kept ("rgb.jpg"), through
    the one tar index (``tst.shards.index_shard``, which names a corrupted or truncated shard)."""
    entries = index_shard(shard)
    try:
        with open(shard, "rb") as fh:
            for key, members in entries:
                raw = {}
                for suffix, (offset, size) in members.items():
                    fh.seek(offset)
                    raw[suffix] = fh.read(size)
                yield key, raw
    except OSError as e:
        raise ShardError(f"shard {shard} cannot be read: {e}") from e


def _rgb(shard: Path, key: str, members: dict[str, bytes]) -> np.ndarray:
    suffix = next((s for s in members if s.split(".")[0] == "rgb"), None)
    if suffix is None:
        raise ValueError(f"shard {shard}: sample {key} has no rgb member; a labeller needs K.rgb.png or K.rgb.jpg")
    return decode_member(suffix, members[suffix])  # [H, W, 3] uint8


def fit_batches(shards: list[Path], total: int, fit_images: int, batch_size: int) -> Iterator[np.ndarray]:
    """uint8 RGB batches [b, H, W, 3] of ``fit_images`` images evenly spaced over the split."""
    pick = set(np.linspace(0, total - 1, min(fit_images, total)).round().astype(int).tolist())
    batch, i = [], 0
    for shard in shards:
        for key, members in raw_samples(shard):
            if i in pick:
                batch.append(_rgb(shard, key, members))
                if len(batch) == batch_size:
                    yield np.stack(batch)
                    batch = []
            i += 1
    if batch:
        yield np.stack(batch)


def _member(name: str, value: np.ndarray) -> tuple[str, bytes]:
    """[H, W, C] labeller output -> (suffix, bytes); one channel is stored as a 2-D image."""
    if value.shape[-1] == 1:
        value = value[..., 0]
    elif value.dtype != np.float32 and value.shape[-1] != 3:
        value = value.astype(np.float32)  # PNG holds 1 or 3 channels; anything else goes to .npy
    return encode_member(name, np.ascontiguousarray(value))


class _StoredRgb(Dataset):
    """The rgb of a shard's raw samples, decoded on demand (by the loader's worker processes)."""

    def __init__(self, shard: Path, samples: list[tuple[str, dict[str, bytes]]]) -> None:
        self.shard, self.samples = shard, samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> np.ndarray:
        return _rgb(self.shard, *self.samples[i])  # [H, W, 3] uint8


def augment_shard(shard: Path, out_dir: Path, labeller: Labeller, batch_size: int,
                  workers: int | str = "auto", progress: Callable[[int], None] | None = None) -> tuple[int, str]:
    """Write ``out_dir/<shard name>`` with the labeller's member added; returns (samples, new suffix)."""
    samples = list(raw_samples(shard))
    index = int(shard.stem.split("-")[1])
    suffix = ""
    starts = range(0, len(samples), batch_size)
    plan = [list(range(lo, min(lo + batch_size, len(samples)))) for lo in starts]
    with ShardWriter(out_dir, shard_size=max(1, len(samples)), first_shard=index) as writer:
        for start, rgb in zip(starts, load(_StoredRgb(shard, samples), plan, workers, collate_fn=np.stack), strict=True):
            chunk = samples[start:start + batch_size]  # rgb: [b, H, W, 3] uint8
            out = labeller(rgb)  # [b, H, W, C]
            if out.shape[:3] != rgb.shape[:3]:
                raise ValueError(f"labeller {labeller.name!r} returned {out.shape} for rgb {rgb.shape}; it must be "
                                 f"pixel-aligned [B, H, W, C]")
            for (key, members), value in zip(chunk, out):
                suffix, data = _member(labeller.name, value)
                writer.write(key, {**members, suffix: data})
            if progress:
                progress(len(chunk))
    return len(samples), suffix


def run(cfg: DictConfig) -> dict:
    data = Path(str(cfg.data))
    manifest = read_manifest(data)
    shards = list_shards(data)
    check_manifest(data, shards)  # a shard lost since collection would silently shrink the new split
    rd = open_run_dir(cfg)
    out_dir = rd.path
    if out_dir.resolve() == data.resolve():
        raise ValueError(f"augment out={out_dir} is the source split; write the augmented split to a new out=<dir>")
    labeller: Labeller = instantiate(cfg.labeller, _convert_="object")
    known = set(manifest.get("modalities") or []) | set(MODALITIES)
    if labeller.name in known:
        raise ValueError(f"labeller name {labeller.name!r} would overwrite an existing modality ({sorted(known)}); "
                         f"set labeller.name=<new name>")
    total = sum(int(v) for v in (manifest.get("counts") or {}).values()) or sum(1 for s in shards
                                                                                  for _ in raw_samples(s))
    t0 = time.perf_counter()
    labeller.fit(fit_batches(shards, total, int(cfg.fit_images), int(cfg.batch_size)))
    logger = make_logger(cfg, out_dir, name="augment")
    frames, suffix, skipped = 0, None, 0
    pbar = bar(total=total, desc=f"augment {labeller.name}", unit="frame", enabled=bool(cfg.get("progress", True)))
    for shard in shards:
        target = out_dir / SHARD_PATTERN.format(int(shard.stem.split("-")[1]))
        if target.exists():  # complete: shards appear by atomic rename
            skipped += 1
            pbar.update(sum(1 for _ in raw_samples(target)))
            continue
        n, suffix = augment_shard(shard, out_dir, labeller, int(cfg.batch_size), cfg.get("workers", "auto"),
                                  progress=pbar.update)
        frames += n
        logger.log({"augment/frames": frames}, step=frames)
    pbar.close()
    seconds = time.perf_counter() - t0
    from tst.collect.manifest import shard_hashes

    content, per_shard = shard_hashes(out_dir)
    if suffix is None:  # every shard was already written (a resumed run): read the suffix back
        _, members = next(raw_samples(list_shards(out_dir)[0]))
        suffix = next(s for s in members if s.split(".")[0] == labeller.name)
    new = {k: v for k, v in manifest.items() if k not in ("coco", "preview")}  # those files stay with the source
    new["modalities"] = [*(manifest.get("modalities") or []), labeller.name]
    new["members"] = [*(manifest.get("members") or []), suffix]
    new["labellers"] = {**(manifest.get("labellers") or {}), labeller.name: labeller.state()}
    new["source_split"] = str(data)
    new["source_content_hash"] = manifest.get("content_hash")
    new["content_hash"], new["shards"] = content, per_shard
    write_json(out_dir / "manifest.json", new)
    metrics = rd.write_metrics({"augment/frames": frames, "augment/shards_skipped": skipped,
                                "augment/seconds": round(seconds, 3)})
    logger.summary(metrics)
    logger.close()
    return {**metrics, "split_dir": str(out_dir), "member": suffix}
