"""The pretraining optimizer: AdamW with MAE's weight-decay groups (matrices decay; biases, norms,
tokens and embeddings do not). The lr schedule it follows is ``tst.schedule`` (shared with transfer).
"""

from __future__ import annotations

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: matrices decay; biases, norms, tokens and embeddings (1-D or named by the
    modules' ``no_weight_decay``) do not, as in MAE/MultiMAE."""
    skip: set[str] = set()
    for prefix, mod in model.named_modules():
        if hasattr(mod, "no_weight_decay"):
            skip |= {f"{prefix}.{n}" if prefix else n for n in mod.no_weight_decay()}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name in skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float]) -> torch.optim.AdamW:
    """AdamW; the fused kernel on CUDA and CPU (one pass over all parameters instead of a Python loop)."""
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, fused=True)
