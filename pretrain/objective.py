"""The pretraining model: shared encoder + one decoder per modality + masked losses.

``MultiMAE`` with several modalities is the method of the test-space-training paper; the ``mae``
objective is the same machinery with rgb only (a Dirichlet over one modality is a uniform random
mask of ``budget`` tokens). Masks are drawn outside (``DirichletMasker``) and passed in, so the
model is a pure function of (weights, batch, masks): what resume and DDP equivalence rely on.
"""

from __future__ import annotations

import torch
from torch import nn

from tst.modalities import get_modality
from tst.models.adapters import grid_size, patchify, unpatchify
from tst.models.vit import MultiViT
from tst.pretrain.decoders import OutputAdapter
from tst.pretrain.losses import masked_loss, patch_targets, prepare
from tst.pretrain.masking import MaskDraw

OBJECTIVES = ("multimae", "mae")


def check_objective(name: str, modalities: list[str]) -> None:
    """Fail early on an objective / modality combination that cannot train."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose objective=" + "|".join(OBJECTIVES))
    if name == "mae" and list(modalities) != ["rgb"]:
        raise ValueError(f"objective=mae reconstructs rgb from rgb only, but modalities={list(modalities)}; "
                         f"use objective=multimae for several modalities or modalities=[rgb]")
    if len(set(modalities)) != len(modalities):
        raise ValueError(f"modalities={list(modalities)} names a modality twice")


class MultiMAE(nn.Module):
    """forward(batch, masks) -> {"loss": weighted sum, "<modality>": that modality's loss}."""

    def __init__(self, encoder: MultiViT, dec_dim: int = 256, dec_depth: int = 2, dec_heads: int = 8,
                 loss_weights: dict[str, float] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.modalities = list(encoder.modalities)
        self.patch_size = encoder.patch_size
        # a label modality predicts one logit per class at each pixel
        outputs = {m: encoder.num_classes.get(m, get_modality(m).channels) for m in self.modalities}
        self.decoders = nn.ModuleDict({
            m: OutputAdapter(outputs[m], encoder.patch_size, encoder.embed_dim, dec_dim, dec_depth, dec_heads)
            for m in self.modalities})
        weights = dict(loss_weights or {})
        unknown = set(weights) - set(self.modalities)
        if unknown:
            raise ValueError(f"loss weights given for {sorted(unknown)}, which are not trained "
                             f"(modalities={self.modalities})")
        self.loss_weights = {m: float(weights.get(m, 1.0)) for m in self.modalities}

    def tokens_per_modality(self, height: int, width: int) -> dict[str, int]:
        gh, gw = grid_size(height, width, self.patch_size)
        return {m: gh * gw for m in self.modalities}

    def _encode(self, batch: dict[str, torch.Tensor], masks: MaskDraw):
        prepared = {m: prepare(m, batch[m]) for m in self.modalities}
        vis = self.encoder.embed_visible({m: prepared[m][0] for m in self.modalities}, masks.visible,
                                         masks.visible_idx)  # [B, V, D]
        return prepared, self.encoder.forward_tokens(vis)  # [B, G+V, D]

    def _spans(self, h: int, w: int) -> tuple[tuple[int, int], dict[str, tuple[int, int]]]:
        grid = grid_size(h, w, self.patch_size)
        n = grid[0] * grid[1]
        return grid, {m: (i * n, (i + 1) * n) for i, m in enumerate(self.modalities)}

    def forward(self, batch: dict[str, torch.Tensor], masks: MaskDraw) -> dict[str, torch.Tensor]:
        h, w = batch[self.modalities[0]].shape[-2:]
        prepared, encoded = self._encode(batch, masks)
        grid, spans = self._spans(h, w)
        out: dict[str, torch.Tensor] = {}
        total = encoded.new_zeros(())
        b = encoded.shape[0]
        for m in self.modalities:
            s, e = spans[m]
            masked = ~masks.visible[:, s:e]  # [B, N_m]
            pred = self.decoders[m](encoded, masks.visible_idx, masks.visible, spans[m], grid,
                                    self.encoder.num_prefix_tokens, predict=masked)  # [K, C*p*p]
            target, weight = patch_targets(m, prepared[m][1], prepared[m][2], self.patch_size)  # [B, N_m, C*p*p]
            sample_of = masked.nonzero()[:, 0]  # [K]
            loss = masked_loss(m, pred, target[masked], None if weight is None else weight[masked], sample_of, b)
            out[m] = loss
            total = total + self.loss_weights[m] * loss
        out["loss"] = total
        return out

    @torch.no_grad()
    def reconstruct(self, batch: dict[str, torch.Tensor], masks: MaskDraw) -> dict[str, dict[str, torch.Tensor]]:
        """{modality: {"input": masked input, "pred": prediction, "target": target}}, images [B, C, H, W].

        rgb is shown in pixels (the per-patch normalised prediction is mapped back with the true
        patch statistics, as MAE visualises it); other modalities in the space the loss sees.
        Visible patches of "pred" are pasted from the target.
        """
        h, w = batch[self.modalities[0]].shape[-2:]
        prepared, encoded = self._encode(batch, masks)
        grid, spans = self._spans(h, w)
        out = {}
        for m in self.modalities:
            s, e = spans[m]
            c = max(1, get_modality(m).channels)
            vis = masks.visible[:, s:e, None]  # [B, N_m, 1]
            pred = self.decoders[m](encoded, masks.visible_idx, masks.visible, spans[m], grid,
                                    self.encoder.num_prefix_tokens)  # [B, N_m, C*p*p]
            if get_modality(m).target_norm == "patch":  # undo the per-patch normalisation for display
                target = patchify(prepared[m][1], self.patch_size)  # [B, N, 3*p*p] pixels
                mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
                pred = pred * (var + 1e-6).sqrt() + mean
            elif m in self.encoder.num_classes:  # logits [B, N, p*p*classes] -> class ids [B, N, p*p]
                target = patch_targets(m, prepared[m][1], None, self.patch_size)[0].float()
                pred = pred.view(*target.shape, -1).argmax(-1).float()
            else:
                target, _ = patch_targets(m, prepared[m][1], prepared[m][2], self.patch_size)
            out[m] = {k: unpatchify(v, self.patch_size, c, *grid) for k, v in {
                "input": torch.where(vis, target, torch.zeros_like(target)),
                "pred": torch.where(vis, target, pred),
                "target": target}.items()}
        return out
