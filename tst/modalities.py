"""The one table that describes every modality.

The same lowercase name is the shard member extension (``K.depth.png``), the batch key, the
adapter key and the metric prefix (``semseg/mIoU``). Everything that needs to know how a modality
is stored, decoded, normalised or supervised reads it from here instead of keeping its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Modality:
    name: str
    channels: int  # channels of the decoded array (H, W, C); label maps have 1
    dtype: str  # numpy dtype of the decoded array
    ext: str  # default member extension after the modality name: "png", "jpg", "json", "npy"
    kind: str  # "image" (continuous, can be a model input/target), "label" (class ids), "meta"
    interpolation: str  # "linear" or "nearest": how aligned augmentation resizes it
    loss: str | None  # default reconstruction loss when it is a pretraining target
    description: str
    sensor: bool = True  # rendered directly (True) or derived from other modalities (False)
    ignore_value: int | None = None  # value that means "no label / no measurement"


# Storage scales, fixed by the shard contract (ARCHITECTURE.md).
DEPTH_PNG_SCALE = 1000.0  # uint16 millimetres; 0 = no hit
NORMAL_PNG_SCALE = 255.0  # uint8 (n + 1) / 2 * 255, camera frame, OpenCV axes

MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in [
        Modality("rgb", 3, "uint8", "png", "image", "linear", "mse",
                 "RGB colour, uint8 (K.rgb.png, or K.rgb.jpg quality >= 95 when asked)"),
        Modality("depth", 1, "float32", "png", "image", "nearest", "l1",
                 "z-depth in metres; stored as uint16 millimetres, 0 = no hit", ignore_value=0),
        Modality("normal", 3, "float32", "png", "image", "nearest", "l1",
                 "unit surface normal in the camera frame (x right, y down, z forward); "
                 "stored as uint8 (n+1)/2*255"),
        Modality("semseg", 1, "uint16", "png", "label", "nearest", "ce",
                 "semantic class id, 0 = unlabelled", ignore_value=0),
        Modality("instance", 1, "uint16", "png", "label", "nearest", None,
                 "instance id, 0 = none", ignore_value=0),
        Modality("edges", 1, "uint8", "png", "image", "nearest", "l1",
                 "Canny edges of rgb (0/255)", sensor=False),
        Modality("caption", 0, "object", "json", "meta", "nearest", None,
                 "several reference captions of the view", sensor=False),
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
        raise KeyError(f"unknown modality {name!r}; known modalities: {sorted(MODALITIES)}") from None


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
