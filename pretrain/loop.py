"""The pieces the pretraining loop is made of, each a small function so ``run.py`` reads top to
bottom: the optimizer's weight-decay groups, the memory figure logged per step, the preview PNG.
What transfer shares with it lives in ``tst/``: the lr schedule (``tst.schedule``), RNG capture
(``tst.rng``) and the deterministic data order (``tst.loader``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def memory_mb(device: torch.device) -> float:
    """Peak CUDA allocation (GPU) or resident set size (CPU), in MiB: what a step's memory is logged as."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with open("/proc/self/statm") as fh:  # resident set size, pages
        return int(fh.read().split()[1]) * 4096 / 2**20


def _display(m: str, img: torch.Tensor) -> np.ndarray:
    """[C, H, W] in the loss's space -> something imshow shows faithfully."""
    x = img.detach().float().cpu()
    if m == "normal":
        return ((x.permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy()
    if x.shape[0] == 3:
        return x.permute(1, 2, 0).clamp(0, 1).numpy()
    return x[0].numpy()


def save_preview(path: str | Path, recon: dict[str, dict[str, torch.Tensor]], step: int) -> Path:
    """PNG grid for the first sample: a row per modality, columns masked input / prediction / target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tst.atomic import atomic_path

    rows = list(recon)
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.5 * len(rows)), squeeze=False)
    for r, m in enumerate(rows):
        target = recon[m]["target"][0]
        lo, hi = (float(target.min()), float(target.max())) if target.shape[0] == 1 else (None, None)
        for c, col in enumerate(("input", "pred", "target")):
            ax = axes[r][c]
            ax.imshow(_display(m, recon[m][col][0]), cmap="viridis", vmin=lo, vmax=hi)
            ax.set_title(f"{m} {'masked input' if col == 'input' else col}", fontsize=9)
            ax.axis("off")
    fig.suptitle(f"step {step}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path
