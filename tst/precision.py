"""Which autocast a stage runs under: bf16 on CUDA by default, fp32 on CPU, chosen in one place so
the first GPU run does not meet a typo (tested on CPU: tests/tst/test_precision.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def autocast_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """``precision`` (auto | fp32 | bf16) on ``device`` -> the autocast dtype, or None for plain fp32."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is invalid; choose one of {list(PRECISIONS)}")
    if precision == "bf16" and device.type == "cpu":
        raise ValueError("precision=bf16 on CPU is ~100x slower than fp32 on this kind of machine; use precision=fp32")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def autocast_for(precision: str, device: torch.device | str) -> Callable[[], AbstractContextManager]:
    """A factory of the autocast context a forward pass runs under (a no-op context for fp32)."""
    device = torch.device(device)
    dtype = autocast_dtype(precision, device)
    if dtype is None:
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)
