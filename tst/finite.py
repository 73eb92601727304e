"""Divergence checks for the training loops: which input, which loss, which weights went NaN/inf.

A loop that stops on a non-finite loss is not enough: a huge step can leave every weight NaN while
the loss that produced it was finite, and the next checkpoint or export would keep them. So the
loops check the inputs before the forward, the loss after it, and the weights after the optimizer
step, and name the modality to blame (an all-inf depth map poisons every loss through attention,
but only its input is non-finite).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn


def non_finite_inputs(batch: Mapping[str, object], names: Iterable[str]) -> list[str]:
    """The floating-point tensors among ``batch[name]`` that hold NaN or inf."""
    bad = []
    for m in names:
        x = batch.get(m)
        if isinstance(x, torch.Tensor) and x.is_floating_point() and not bool(torch.isfinite(x).all()):
            bad.append(m)
    return bad


def non_finite_params(model: nn.Module) -> list[str]:
    """Names of parameters holding NaN or inf, found with one fused norm per parameter and one sync."""
    named = [(n, p) for n, p in model.named_parameters()]
    if not named:
        return []
    norms = torch._foreach_norm([p.detach() for _, p in named])  # inf/NaN anywhere -> inf/NaN norm
    finite = torch.isfinite(torch.stack([x.float() for x in norms])).tolist()
    return [n for (n, _), ok in zip(named, finite) if not ok]


def blame(param_names: Iterable[str], modalities: Iterable[str]) -> list[str]:
    """Modalities whose own modules (``adapters.depth…``, ``decoders.depth…``) hold the names; ``shared``
    for anything else (blocks, norms, tokens)."""
    mods = set(modalities)
    out: list[str] = []
    for name in param_names:
        hit = next((part for part in name.split(".") if part in mods), "shared")
        if hit not in out:
            out.append(hit)
    return out
