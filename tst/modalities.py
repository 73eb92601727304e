"""The one table that describes every modality, and the rules each one owns.

The same lowercase name is the shard member extension (``K.depth.png``), the batch key, the
adapter key and the metric prefix (``semseg/mIoU``). Each entry owns how its modality is stored
(``encode`` to the storage dtype, member suffix), read back (``decode``; ``to_float`` for the
tensors the loader hands over), laid out as a tensor (``kind``), resized and mirrored by the aligned
augmentation (``interpolation``, ``mirror``), normalised for the pretraining loss (``norm``,
``target_norm``) and supervised (``loss``). Shards, datasets, augmentation and losses look these
up; none of them switches on a modality's name, so a new dense modality is one ``register``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Modality:
    name: str
    channels: int  # channels of the decoded array (H, W, C); label maps have 1
    dtype: str  # numpy dtype of the decoded array (what decode_member returns)
    ext: str  # default member extension after the modality name: "png", "jpg", "json", "npy"
    kind: str  # "image" (continuous -> float [C, H, W]), "label" (class ids -> int64 [H, W]), "meta" (Python object)
    interpolation: str  # "linear" or "nearest": how aligned augmentation resizes it
    loss: str | None  # default reconstruction loss when it is a pretraining target: "mse", "l1", "ce"
    description: str
    sensor: bool = True  # rendered directly (True) or derived from other modalities by collect (False)
    ignore_value: int | None = None  # value that means "no label / no measurement" (masked out of losses)
    stored: str | None = None  # numpy dtype on disk (uint8 / uint16 PNG); None for json members
    formats: tuple[str, ...] = ()  # other extensions a user may choose (rgb: jpg); ``ext`` is the default
    encode: Callable[[np.ndarray], np.ndarray] | None = None  # decoded value -> stored array (None: as given)
    decode: Callable[[np.ndarray], np.ndarray] | None = None  # stored array -> decoded array (None: as stored)
    to_float: Callable[[torch.Tensor], torch.Tensor] | None = None  # stored tensor [C, H, W] -> float, any device
    ships_stored: bool = False  # crosses processes / the host-device copy as stored integers (loader stored=True)
    mirror: Callable[[Any, int], Any] | None = None  # fix-up after a left-right mirror: (array, channel axis) -> array
    norm: str | None = None  # per-image normalisation of the encoder input: "imagenet", "robust" or None
    target_norm: str = "input"  # pretraining target: "input" (the normalised input) or "patch" (MAE norm_pix)
    needs_labels: bool = False  # a derived member that needs a labelled split (captions name objects)

    def suffix(self, fmt: str | None = None) -> str:
        """Member suffix after the sample key, e.g. ``depth.png``; ``fmt`` picks one of ``formats``."""
        if fmt is None or not self.formats:
            return f"{self.name}.{self.ext}"
        if fmt not in (self.ext, *self.formats):
            raise ValueError(f"{self.name}_format must be one of {[self.ext, *self.formats]}, got {fmt!r}")
        return f"{self.name}.{fmt}"


# Storage scales, fixed by the shard contract (ARCHITECTURE.md).
DEPTH_PNG_SCALE = 1000.0  # uint16 millimetres; 0 = no hit
NORMAL_PNG_SCALE = 255.0  # uint8 (n + 1) / 2 * 255, camera frame, OpenCV axes


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """float metres [H, W] -> uint16 millimetres, 0 where there is no hit or the value overflows."""
    d = np.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0)
    mm = np.rint(d * DEPTH_PNG_SCALE)
    mm[(mm < 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)


def decode_depth(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres -> float32 metres (0 stays 0 = no hit)."""
    return mm.astype(np.float32) / DEPTH_PNG_SCALE


def encode_normal(normal: np.ndarray) -> np.ndarray:
    """unit normals [H, W, 3] in [-1, 1] -> uint8 (n+1)/2*255. Pixels with a zero normal map to 128."""
    return np.clip(np.rint((normal + 1.0) * 0.5 * NORMAL_PNG_SCALE), 0, 255).astype(np.uint8)


def decode_normal(png: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 normals in [-1, 1] (not re-normalised: quantisation is ~0.4%)."""
    return png.astype(np.float32) / NORMAL_PNG_SCALE * 2.0 - 1.0


# Stored tensors -> floats: the same float32 operations as the numpy decoders above, so a batch
# converted on the GPU equals one decoded on the CPU bit for bit.
def _rgb_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0)  # [3, H, W] in [0, 1]


def _depth_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(DEPTH_PNG_SCALE)  # metres


def _normal_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(NORMAL_PNG_SCALE).mul_(2.0).sub_(1.0)  # [-1, 1]


def _binary_float(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).float()  # {0, 1}


def mirror_normal(y: Any, channel_axis: int) -> Any:
    """A left-right mirror turns a camera-frame normal (x, y, z) into (-x, y, z). ``y`` is the mirrored
    array ([H, W, 3] numpy with ``channel_axis=-1``, [3, H, W] torch with 0), changed in place; stored
    uint8 ``(n+1)/2*255`` negates as ``255 - v``, which is exactly ``-n`` decoded."""
    idx = (..., 0) if channel_axis == -1 else (0,)
    if isinstance(y, np.ndarray) and y.dtype == np.uint8:
        y[idx] = 255 - y[idx]
    else:
        y[idx] = -y[idx]
    return y


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in [
        Modality("rgb", 3, "uint8", "png", "image", "linear", "mse",
                 "RGB colour, uint8 (K.rgb.png, or K.rgb.jpg quality >= 95 when asked)",
                 stored="uint8", formats=("jpg",), to_float=_rgb_float, ships_stored=True,
                 norm="imagenet", target_norm="patch"),
        Modality("depth", 1, "float32", "png", "image", "nearest", "l1",
                 "z-depth in metres; stored as uint16 millimetres, 0 = no hit", ignore_value=0,
                 stored="uint16", encode=encode_depth, decode=decode_depth, to_float=_depth_float,
                 ships_stored=True, norm="robust"),
        Modality("normal", 3, "float32", "png", "image", "nearest", "l1",
                 "unit surface normal in the camera frame (x right, y down, z forward); "
                 "stored as uint8 (n+1)/2*255",
                 stored="uint8", encode=encode_normal, decode=decode_normal, to_float=_normal_float,
                 ships_stored=True, mirror=mirror_normal),
        Modality("semseg", 1, "uint16", "png", "label", "nearest", "ce",
                 "semantic class id, 0 = unlabelled", ignore_value=0, stored="uint16"),
        Modality("instance", 1, "uint16", "png", "label", "nearest", None,
                 "instance id, 0 = none", ignore_value=0, stored="uint16"),
        Modality("edges", 1, "uint8", "png", "image", "nearest", "l1",
                 "Canny edges of rgb (0/255)", sensor=False, stored="uint8", to_float=_binary_float),
        Modality("caption", 0, "object", "json", "meta", "nearest", None,
                 "several reference captions of the view", sensor=False, needs_labels=True),
        Modality("meta", 0, "object", "json", "meta", "nearest", None,
                 "intrinsics, cam_to_world (4x4, OpenCV), scene_id, split"),
    ]
}

# What each split carries by default (collect can add optional members).
SENSOR_MODALITIES = ("rgb", "depth", "normal")
LABEL_MODALITIES = ("semseg", "instance")


def get_modality(name: str) -> Modality:
    """Look a modality up by name, failing with the list of valid names."""
    try:
        return MODALITIES[name]
    except KeyError:
        known = "; ".join(f"{n} ({MODALITIES[n].description})" for n in sorted(MODALITIES))
        raise KeyError(f"unknown modality {name!r}; known modalities: {known}") from None


def derived_modalities() -> dict[str, Modality]:
    """Members collect derives from a rendered frame (``extras=[…]``): the table's non-sensor entries."""
    return {n: m for n, m in MODALITIES.items() if not m.sensor}


def register(modality: Modality) -> Modality:
    """Add a modality to the table (a new dense map is one entry); fails on a name already taken."""
    if modality.name in MODALITIES:
        raise ValueError(f"modality {modality.name!r} is already in the table; pick another name")
    if modality.kind not in ("image", "label", "meta"):
        raise ValueError(f"modality {modality.name!r}: kind must be image, label or meta, got {modality.kind!r}")
    MODALITIES[modality.name] = modality
    return modality


def unregister(name: str) -> None:
    """Remove a modality added with ``register`` (tests clean up after themselves)."""
    get_modality(name)
    del MODALITIES[name]
