"""The small encoder protocol every transfer head is written against.

Heads must work with tst's own ``MultiViT`` exports, with timm's ``VisionTransformer`` and with any
encoder pretrained elsewhere, so they only rely on three things:

- ``patch_size`` (an int, or ``patch_embed.patch_size`` as timm stores it),
- ``embed_dim`` (channels of every feature map),
- ``forward_intermediates(x, indices=[…], output_fmt="NCHW", intermediates_only=True)`` returning a
  list of ``[B, embed_dim, H/p, W/p]`` maps, one per requested block,

plus ``blocks`` (a sequence) to know the depth. Heads record the patch size they were built for;
:func:`check_patch_size` turns a mismatch into a clear error instead of a shape error deep inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def patch_size_of(encoder: nn.Module) -> int:
    p = getattr(encoder, "patch_size", None)
    if p is None and hasattr(encoder, "patch_embed"):
        p = getattr(encoder.patch_embed, "patch_size", None)
    if p is None:
        raise TypeError(f"{type(encoder).__name__} has no patch_size (nor patch_embed.patch_size); "
                        "transfer heads need a ViT-style encoder")
    if isinstance(p, Sequence):
        if len(set(p)) != 1:
            raise ValueError(f"non-square patches {tuple(p)} are not supported")
        p = p[0]
    return int(p)


def embed_dim_of(encoder: nn.Module) -> int:
    d = getattr(encoder, "embed_dim", None) or getattr(encoder, "num_features", None)
    if d is None:
        raise TypeError(f"{type(encoder).__name__} has no embed_dim / num_features")
    return int(d)


def depth_of(encoder: nn.Module) -> int:
    if not hasattr(encoder, "blocks"):
        raise TypeError(f"{type(encoder).__name__} has no `blocks`; cannot pick feature levels")
    return len(encoder.blocks)


def check_patch_size(encoder: nn.Module, expected: int, what: str = "this head") -> None:
    got = patch_size_of(encoder)
    if got != expected:
        raise ValueError(f"encoder patch size {got} does not match the patch size {expected} that {what} was "
                         f"built for; rebuild the head for patch size {got} or load an encoder export "
                         f"with patch size {expected}")


def feature_levels(depth: int, n: int) -> list[int]:
    """``n`` block indices spread evenly over ``depth`` blocks, always ending at the last one.

    depth 12, n 4 -> [2, 5, 8, 11] (the BEiT / ViTDet choice); depth 2, n 4 -> [0, 0, 1, 1].
    """
    if depth < 1 or n < 1:
        raise ValueError(f"need depth >= 1 and n >= 1, got depth={depth}, n={n}")
    return [max(0, round((i + 1) * depth / n) - 1) for i in range(n)]


def encoder_input_size(encoder: nn.Module) -> int | None:
    """The fixed square input size of a strict timm ViT, or None when any multiple of the patch works."""
    pe = getattr(encoder, "patch_embed", None)
    if pe is None or not getattr(pe, "strict_img_size", False) or getattr(pe, "dynamic_img_pad", False):
        return None
    size = getattr(pe, "img_size", None)
    if size is None:
        return None
    if len(set(size)) != 1:
        raise ValueError(f"encoder expects a non-square input {tuple(size)}; not supported")
    return int(size[0])


def pad_for_encoder(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``x`` [B, C, H, W] at the bottom/right to what the encoder accepts (crop the output back)."""
    h, w = x.shape[-2:]
    fixed = encoder_input_size(encoder)
    if fixed is not None:
        if h > fixed or w > fixed:
            raise ValueError(f"input {h}x{w} is larger than the encoder's fixed input size {fixed}; "
                             f"resize the images to at most {fixed}")
        th, tw = fixed, fixed
    else:
        p = patch_size_of(encoder)
        th, tw = -(-h // p) * p, -(-w // p) * p
    return F.pad(x, (0, tw - w, 0, th - h)) if (th, tw) != (h, w) else x


def multilevel_features(encoder: nn.Module, x: torch.Tensor, indices: Sequence[int]) -> list[torch.Tensor]:
    """x [B, 3, H, W] (padded for the encoder) -> one [B, D, H/p, W/p] map per index (repeats allowed)."""
    unique = sorted(set(indices))
    feats = encoder.forward_intermediates(x, indices=unique, output_fmt="NCHW", intermediates_only=True)
    by_index = dict(zip(unique, feats))
    return [by_index[i] for i in indices]


class Normalize(nn.Module):
    """rgb in [0, 1] -> ImageNet-normalised, as both tst and timm encoders expect."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
