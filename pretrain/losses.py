"""What the model sees and what it must reconstruct, per modality, and the masked-token losses.

Which loss, normalisation and valid-pixel rule a modality gets comes from its entry in the modality
table (``loss``, ``norm``, ``target_norm``, ``ignore_value``); this file holds what those names do:
- rgb: ImageNet-normalised input; target = pixels normalised per patch (MAE ``norm_pix_loss``), MSE.
- depth: robustly standardised per image (mean/std of the valid depths between the 10th and 90th
  percentile, so a few far hits cannot dominate), no-hit pixels (0) are 0 in the input and
  excluded from the loss; L1.
- normal: unit vectors in [-1, 1] as they are; L1. edges: [0, 1]; L1.
- semseg (a label map, when a split carries one): class ids in, per-pixel cross-entropy over
  ``num_classes`` logits out, unlabelled pixels (id 0) ignored.
Losses are means over each sample's masked tokens, then over samples, which makes a DDP average
over equal per-rank batches the same number as one process on the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tst.modalities import get_modality
from tst.models.adapters import patchify

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> ImageNet-normalised (what timm ViTs and transfer heads expect)."""
    mean = rgb.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = rgb.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (rgb - mean) / std


def robust_standardise_depth(depth: torch.Tensor, valid: torch.Tensor, trim: float = 0.1) -> torch.Tensor:
    """[B, 1, H, W] metres -> standardised with trimmed per-image statistics; invalid pixels -> 0."""
    out = torch.zeros_like(depth)
    for i in range(depth.shape[0]):
        v = depth[i][valid[i]]
        if v.numel() < 2:
            continue
        lo, hi = torch.quantile(v, torch.tensor([trim, 1 - trim], device=v.device))
        core = v[(v >= lo) & (v <= hi)]
        mean, std = core.mean(), core.std().clamp_min(1e-2) if core.numel() > 1 else v.new_tensor(1.0)
        out[i] = torch.where(valid[i], (depth[i] - mean) / std, torch.zeros_like(depth[i]))
    return out


def _robust(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    return robust_standardise_depth(x, x != 0 if valid is None else valid)


# Per-image input normalisations a table entry can name (``Modality.norm``).
NORMALISATIONS = {"imagenet": lambda x, valid: normalise_rgb(x), "robust": _robust}


def prepare(modality: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Batch tensor of one modality -> (encoder input, target image, valid-pixel mask or None), as
    its table entry says: labels (loss "ce") stay class ids with ``ignore_value`` masked; images get
    ``norm`` on the input and, for ``target_norm="input"``, as the target; pixels equal to
    ``ignore_value`` (depth 0 = no hit) are left out of the loss."""
    m = get_modality(modality)
    if m.loss == "ce":  # class ids [B, H, W]
        return x, x.unsqueeze(1), x.unsqueeze(1) != m.ignore_value
    if m.kind != "image":
        raise ValueError(f"modality {modality!r} cannot be a masked-reconstruction target; use image modalities")
    valid = None if m.ignore_value is None else x != m.ignore_value
    if m.norm is None:
        return x, x, valid
    if m.norm not in NORMALISATIONS:
        raise ValueError(f"modality {modality!r} has norm {m.norm!r} in tst.modalities; known: {sorted(NORMALISATIONS)}")
    z = NORMALISATIONS[m.norm](x, valid)
    return z, (x if m.target_norm == "patch" else z), valid


def patch_targets(modality: str, target: torch.Tensor, valid: torch.Tensor | None,
                  patch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Target image [B, C, H, W] -> ([B, N, C*p*p] targets, [B, N, C*p*p] pixel weights or None)."""
    t = patchify(target, patch_size)  # [B, N, C*p*p]
    if get_modality(modality).target_norm == "patch":  # MAE norm_pix_loss: each patch to zero mean, unit variance
        mean, var = t.mean(-1, keepdim=True), t.var(-1, keepdim=True)
        t = (t - mean) / (var + 1e-6).sqrt()
    w = None if valid is None else patchify(valid.expand_as(target).float(), patch_size)
    return t, w


def masked_loss(modality: str, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                sample_of: torch.Tensor, batch: int) -> torch.Tensor:
    """Mean over each sample's masked tokens, then over samples.

    pred, target, weight: [K, C*p*p] for the K masked tokens; sample_of: [K] the sample of each.
    """
    kind = get_modality(modality).loss
    if kind == "ce":  # pred [K, p*p*classes] logits (pixel-major), target [K, p*p] class ids
        k, pixels = target.shape
        logits = pred.float().reshape(k * pixels, -1)  # [K*p*p, classes]
        per_pix = F.cross_entropy(logits, target.reshape(-1).long(), reduction="none").view(k, pixels)
    elif kind == "mse":
        per_pix = (pred.float() - target).square()
    elif kind == "l1":
        per_pix = (pred.float() - target).abs()
    else:
        raise ValueError(f"modality {modality!r} has loss {kind!r} in tst.modalities; pretraining supports "
                         f"mse, l1, ce")
    if weight is None:
        per_tok = per_pix.mean(-1)  # [K]
    else:
        per_tok = (per_pix * weight).sum(-1) / weight.sum(-1).clamp_min(1.0)  # [K]
    sums = per_tok.new_zeros(batch).index_add(0, sample_of, per_tok)  # [B]
    counts = per_tok.new_zeros(batch).index_add(0, sample_of, torch.ones_like(per_tok))  # [B]
    return (sums / counts.clamp_min(1.0)).mean()
