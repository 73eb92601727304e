"""What a pretraining run shows about itself: the memory figure logged per step and the preview PNG
(masked input / prediction / target per modality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


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
