"""Aligned augmentation: ONE random crop / resize / flip applied to every modality of a sample.

Pixel-aligned modalities stop being aligned the moment each gets its own random crop, so the
geometry is drawn once per sample and applied to all of them. How each modality is resized comes
from the modality table (``MODALITIES[name].interpolation``): bilinear for rgb, nearest for depth,
normals, edges and label maps (a bilinear label map would invent class ids that do not exist and
a bilinear depth edge would float points in mid-air). A horizontal flip mirrors the image, so the
x component of camera-frame normals changes sign.

Randomness is drawn from ``(seed, sample key, epoch)``: the same sample gets the same augmentation
whatever DataLoader worker or rank loads it, and a new one each epoch (``epoch=`` or ``set_epoch``).

Two paths, same geometry: tensors ([C, H, W], torch ops), and the arrays as stored in the shards
([H, W, C] uint8 rgb / normal, uint16 depth / labels, what ``ShardDataset`` hands over before any
float conversion). The array path is the one the loader uses: cropping first and resizing small
integer images with cv2 costs ~0.3 ms per 224² rgb+depth+normal sample instead of ~2.5 ms in float
torch (issue 13). Its rgb resize is cv2's (area when shrinking, bilinear when enlarging); nearest
modalities match the tensor path exactly. A flipped stored normal is ``255 - v`` in x, which is
exactly ``-n`` after decoding ``v / 255 * 2 - 1``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tst.modalities import MODALITIES

# Keys of a dataset sample that are not images (left untouched by the geometry).
_NON_IMAGE = ("meta", "caption", "__key__")


def _spatial_keys(sample: dict[str, Any]) -> list[str]:
    return [k for k, v in sample.items() if k not in _NON_IMAGE and isinstance(v, torch.Tensor) and v.ndim >= 2]


def nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output pixel for nearest resizing, pixel centres aligned ("nearest-exact"):
    floor((2 i + 1) n_in / (2 n_out)) in integers, so both paths pick the same pixels at every ratio."""
    return (2 * np.arange(n_out, dtype=np.int64) + 1) * n_in // (2 * n_out)


def _array_keys(sample: dict[str, Any]) -> list[str]:
    return [k for k, v in sample.items() if k not in _NON_IMAGE and isinstance(v, np.ndarray) and v.ndim >= 2]


def _with_intrinsics(sample: dict[str, Any], box: tuple[int, int, int, int], size: tuple[int, int]) -> dict:
    """``sample["meta"]`` with intrinsics moved by the crop ``box`` and scaled to ``size`` (H, W)."""
    if not (isinstance(sample.get("meta"), dict) and "intrinsics" in sample["meta"]):
        return sample.get("meta")
    top, left, h, w = box
    meta = dict(sample["meta"])
    k = dict(meta["intrinsics"])
    sy, sx = size[0] / h, size[1] / w
    k.update(fx=k["fx"] * sx, fy=k["fy"] * sy, cx=(k["cx"] - left) * sx, cy=(k["cy"] - top) * sy,
             width=int(size[1]), height=int(size[0]))
    meta["intrinsics"] = k
    return meta


def _flipped_meta(meta: Any) -> Any:
    if not isinstance(meta, dict):
        return meta
    meta = dict(meta)
    if "intrinsics" in meta:
        k = dict(meta["intrinsics"])
        k["cx"] = k["width"] - k["cx"]
        meta["intrinsics"] = k
    aug = dict(meta.get("augment", {}))
    aug["hflip"] = not aug.get("hflip", False)
    meta["augment"] = aug
    return meta


def crop_resize_arrays(sample: dict[str, Any], box: tuple[int, int, int, int],
                       size: tuple[int, int]) -> dict[str, Any]:
    """``crop_resize`` for stored [H, W] / [H, W, C] numpy arrays (any dtype cv2 resizes), via cv2."""
    top, left, h, w = box
    out = dict(sample)
    for k in _array_keys(sample):
        crop = sample[k][top:top + h, left:left + w]
        if (h, w) == tuple(size):
            out[k] = crop.copy()
            continue
        if _interpolation(k) == "bilinear":
            mode = cv2.INTER_AREA if size[0] <= h and size[1] <= w else cv2.INTER_LINEAR
        else:
            out[k] = np.take(np.take(crop, nearest_index(h, size[0]), axis=0), nearest_index(w, size[1]), axis=1)
            continue
        y = cv2.resize(crop, (size[1], size[0]), interpolation=mode)
        out[k] = y.reshape(*size, *crop.shape[2:])  # cv2 drops a trailing channel axis of 1
    if "meta" in sample:
        out["meta"] = _with_intrinsics(sample, box, size)
    return out


def hflip_arrays(sample: dict[str, Any]) -> dict[str, Any]:
    """``hflip`` for stored arrays; the table's ``mirror`` rule fixes what a mirror changes (a stored
    uint8 normal flips x as ``255 - v``, = ``-n`` decoded)."""
    out = dict(sample)
    for k in _array_keys(sample):
        x = sample[k]
        y = cv2.flip(x, 1).reshape(x.shape) if x.ndim == 2 or x.shape[2] <= 4 else np.ascontiguousarray(x[:, ::-1])
        m = MODALITIES.get(k)
        out[k] = y if m is None or m.mirror is None else m.mirror(y, -1)  # normal: x -> -x
    if "meta" in sample:
        out["meta"] = _flipped_meta(sample["meta"])
    return out


def _interpolation(name: str) -> str:
    m = MODALITIES.get(name)
    return "bilinear" if m is not None and m.interpolation == "linear" else "nearest"


def crop_resize(sample: dict[str, Any], box: tuple[int, int, int, int], size: tuple[int, int]) -> dict[str, Any]:
    """Crop every image of ``sample`` to ``box`` = (top, left, height, width), then resize to ``size`` (H, W).

    Images are [C, H, W] or [H, W] tensors; integer label maps keep their dtype. Intrinsics in
    ``sample["meta"]`` are updated so back-projection of the augmented depth stays correct.
    """
    top, left, h, w = box
    out = dict(sample)
    for k in _spatial_keys(sample):
        x = sample[k]
        crop = x[..., top:top + h, left:left + w]  # [C, h, w] or [h, w]
        if (h, w) == tuple(size):
            out[k] = crop.clone()
            continue
        if _interpolation(k) != "bilinear":
            rows, cols = (torch.from_numpy(nearest_index(n, m)) for n, m in ((h, size[0]), (w, size[1])))
            out[k] = crop.index_select(-2, rows).index_select(-1, cols)
            continue
        x4 = crop[None] if crop.ndim == 3 else crop[None, None]  # [1, C, h, w]
        y = F.interpolate(x4.float(), size=size, mode="bilinear", align_corners=False, antialias=True).to(x.dtype)
        out[k] = y[0] if crop.ndim == 3 else y[0, 0]
    if "meta" in sample:
        out["meta"] = _with_intrinsics(sample, box, size)
    return out


def hflip(sample: dict[str, Any]) -> dict[str, Any]:
    """Mirror every image left-right; the table's ``mirror`` rule negates camera-frame normals' x.

    The principal point moves to ``width - cx``; the pose is left as it was (a mirror is not a
    rigid motion) and ``meta["augment"]["hflip"]`` records that the view is mirrored.
    """
    out = dict(sample)
    for k in _spatial_keys(sample):
        y = torch.flip(sample[k], dims=[-1])
        m = MODALITIES.get(k)
        out[k] = y if m is None or m.mirror is None else m.mirror(y.clone(), 0)  # normal [3, H, W]: x -> -x
    if "meta" in sample:
        out["meta"] = _flipped_meta(sample["meta"])
    return out


class AlignedAugment:
    """Random resized crop (area fraction in ``scale``, aspect of ``size``) + horizontal flip.

    ``size`` is an int (square) or (H, W). Call on a dataset sample (tensors from ``tst.dataset``,
    or the stored numpy arrays before conversion); returns a new sample with every image modality
    transformed identically. ``epoch`` picks the draw (default: the last ``set_epoch``).
    """

    def __init__(self, size: int | Sequence[int], scale: Sequence[float] = (0.5, 1.0), hflip: float = 0.5,
                 seed: int = 0) -> None:
        self.size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        lo, hi = float(scale[0]), float(scale[1])
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"AlignedAugment scale must satisfy 0 < lo <= hi <= 1, got {tuple(scale)}")
        if not 0 <= hflip <= 1:
            raise ValueError(f"AlignedAugment hflip is a probability in [0, 1], got {hflip}")
        self.scale, self.p_flip, self.seed, self.epoch = (lo, hi), float(hflip), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, key: str, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(key.encode()), epoch])

    def draw(self, height: int, width: int, key: str, epoch: int | None = None) -> tuple[tuple[int, int, int, int], bool]:
        """The crop box (top, left, h, w) and flip decision for one sample; pure in (seed, key, epoch)."""
        rng = self._rng(key, self.epoch if epoch is None else int(epoch))
        area = rng.uniform(*self.scale) * height * width
        aspect = self.size[1] / self.size[0]  # w / h of the output, kept by the crop
        h = int(round(np.sqrt(area / aspect)))
        w = int(round(h * aspect))
        h, w = max(1, min(h, height)), max(1, min(w, width))
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        flip = bool(rng.random() < self.p_flip)
        return (top, left, h, w), flip

    def __call__(self, sample: dict[str, Any], epoch: int | None = None) -> dict[str, Any]:
        arrays = _array_keys(sample)
        keys = arrays or _spatial_keys(sample)
        if not keys:
            raise ValueError("AlignedAugment got a sample without image tensors; keys: " + str(sorted(sample)))
        shapes = {k: tuple(sample[k].shape[:2] if arrays else sample[k].shape[-2:]) for k in keys}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"modalities of sample {sample.get('__key__')!r} are not pixel-aligned: {shapes}")
        height, width = next(iter(shapes.values()))
        box, flip = self.draw(height, width, str(sample.get("__key__", "")), epoch)
        out = (crop_resize_arrays if arrays else crop_resize)(sample, box, self.size)
        if isinstance(out.get("meta"), dict):
            meta = dict(out["meta"])
            meta["augment"] = {**meta.get("augment", {}), "crop": list(box)}
            out["meta"] = meta
        if not flip:
            return out
        return hflip_arrays(out) if arrays else hflip(out)

    def __repr__(self) -> str:
        return f"AlignedAugment(size={self.size}, scale={self.scale}, hflip={self.p_flip}, seed={self.seed})"
