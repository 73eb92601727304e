"""The learning-rate schedule every training loop uses (pretraining and transfer): a pure function of
the step, so a resumed run recomputes the same lr from the step alone (nanoGPT's ``get_lr``)."""

from __future__ import annotations

import math


def lr_at(step: int, *, lr: float, warmup: int, steps: int, min_lr: float = 0.0) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to ``min_lr`` at ``steps`` (0-based step)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= steps:
        return min_lr
    progress = (step - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))
