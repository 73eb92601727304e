"""Layer-wise learning-rate decay (BEiT/MAE finetuning) and encoder freezing (probing).

With decay ``d`` and an encoder of ``L`` blocks, the embeddings get ``lr * d**(L+1)``, block ``i``
gets ``lr * d**(L-i)`` and everything after the encoder (its final norm and the task head) gets the
full ``lr``: early layers hold generic features that finetuning should move least. Biases, norms and
position/token embeddings get no weight decay. Encoder parameters are found by identity, so the rule
works whatever the head calls its encoder attribute (``encoder``, ``backbone.encoder``, …).
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from tst.transfer.backbone import depth_of

_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
_NO_DECAY_NAMES = ("pos_embed", "cls_token", "reg_token", "global_tokens", "modality_embed", "memory_pos")


def encoder_layer_id(name: str, depth: int) -> int:
    """0 for embeddings, i + 1 for ``blocks.i``, depth + 1 for the rest (final norm)."""
    m = _BLOCK.search("." + name)
    if m:
        return int(m.group(1)) + 1
    if name.startswith(("norm", "fc_norm", "head")):
        return depth + 1
    return 0


def param_groups(model: nn.Module, encoder: nn.Module, lr: float, weight_decay: float = 0.05,
                 layer_decay: float = 0.75) -> list[dict[str, Any]]:
    """AdamW parameter groups for ``model`` (which contains ``encoder``), trainable parameters only.

    Each group carries ``lr`` already scaled and ``lr_scale`` so a schedule can rescale it.
    """
    if not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    depth = depth_of(encoder)
    enc_names = {id(p): n for n, p in encoder.named_parameters()}
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        enc_name = enc_names.get(id(p))
        layer = encoder_layer_id(enc_name, depth) if enc_name is not None else depth + 1
        no_decay = p.ndim <= 1 or any(k in name for k in _NO_DECAY_NAMES)
        key = (layer, no_decay)
        if key not in groups:
            scale = layer_decay ** (depth + 1 - layer)
            groups[key] = {"params": [], "names": [], "lr_scale": scale, "lr": lr * scale,
                           "weight_decay": 0.0 if no_decay else weight_decay}
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients into ``module`` and keep it in eval mode (probing protocol)."""
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    return module
