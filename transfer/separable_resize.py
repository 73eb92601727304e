"""Bilinear resizing as two small matmuls (the UPerNet head's upsampling on CPU).

Why: at the demo's scale (``tst_vit_test``, 64 px, one thread) the UPerNet head resizes every level to
stride p/4 and the logits to the image, and ``F.interpolate``'s bilinear backward is a scatter that
runs at a fraction of the core's speed. Bilinear resizing is separable, ``out = A_h · x · A_wᵀ`` with
``A`` the [out, in] matrix of each axis's two-tap weights, so forward and backward are GEMMs.
The op alone, fwd + bwd, one thread (AVX2): batch 16 x 64 channels 16² → 32² 13.2 → 4.8 ms, 4² → 32²
12.8 → 4.0 ms, 33 channels 32² → 64² 39.4 → 19.0 ms; 4² → 8² loses (1.1 → 1.6 ms) but is tiny. Whole
training steps side by side: ``make bench`` (``runs/bench/demo_heads.json``,
``semseg_separable_resize_speedup``).

The weights are ``F.interpolate(mode="bilinear", align_corners=False)``'s (no antialias): the source
coordinate ``(dst + 0.5) · in / out − 0.5`` clamped at 0, its floor and the next pixel (the last pixel
repeats). Other devices keep ``F.interpolate``: the measurement is the CPU's.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F


@lru_cache(maxsize=64)
def _axis(n_in: int, n_out: int, dtype: torch.dtype) -> torch.Tensor:
    """[n_out, n_in] bilinear weights of one axis (each row: two taps summing to 1).

    Built outside inference mode: the perception plugin resizes under ``torch.inference_mode``, and a cached
    inference tensor could not be saved for a later training step's backward."""
    with torch.inference_mode(False):
        src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0.0)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        w1 = src - i0
        rows = torch.arange(n_out)
        a = torch.zeros(n_out, n_in, dtype=torch.float64)
        a.index_put_((rows, i0), 1.0 - w1, accumulate=True)
        a.index_put_((rows, i1), w1, accumulate=True)
        return a.to(dtype)


def axis_weights(n_in: int, n_out: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The [n_out, n_in] matrix that resizes one axis bilinearly (align_corners=False)."""
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    return _axis(int(n_in), int(n_out), dtype)


def bilinear_resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """x [..., H, W] -> [..., h, w], equal to ``F.interpolate(x, size, mode="bilinear", align_corners=False)``."""
    h, w = int(size[0]), int(size[1])
    if x.shape[-2:] == (h, w):
        return x
    if x.device.type != "cpu" or not x.is_floating_point():
        return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    a_h, a_w = axis_weights(x.shape[-2], h, x.dtype), axis_weights(x.shape[-1], w, x.dtype)
    return torch.matmul(torch.matmul(a_h, x), a_w.t())
