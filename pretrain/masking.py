"""Which tokens the encoder sees: a fixed visible budget split across modalities by Dirichlet(alpha).

MultiMAE's masking: per sample, draw modality proportions from a symmetric Dirichlet(alpha) and
keep ``round(p_m * budget)`` random tokens of modality m visible; everything else is a
reconstruction target. Small alpha gives lopsided splits (sometimes one modality sees almost
nothing and must be predicted from the others, which is what teaches cross-modal features);
alpha = inf is the even split. The budget is exact per sample so the encoder batch is dense.

The random state is a numpy ``Generator`` owned by the masker, saved in checkpoints, so a resumed
run draws the same masks as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class MaskDraw:
    """One batch of masks over the concatenated token list (modalities in order, raster inside)."""

    visible_idx: torch.Tensor  # [B, V] long, ascending indices into the concatenated tokens
    visible: torch.Tensor  # [B, N_total] bool, True where the encoder sees the token
    counts: torch.Tensor  # [B, M] long, visible tokens per modality

    def to(self, device: torch.device | str) -> MaskDraw:
        return MaskDraw(self.visible_idx.to(device), self.visible.to(device), self.counts.to(device))

    def slice(self, start: int, stop: int) -> MaskDraw:
        """Samples ``start:stop`` of the batch (one DDP rank's share of a global draw)."""
        return MaskDraw(self.visible_idx[start:stop], self.visible[start:stop], self.counts[start:stop])


class DirichletMasker:
    """Draws ``MaskDraw`` s for ``tokens`` tokens per modality and ``budget`` visible tokens per sample."""

    def __init__(self, tokens: dict[str, int], budget: int, alpha: float = 1.0, seed: int = 0) -> None:
        self.names = list(tokens)
        self.sizes = [int(tokens[m]) for m in self.names]
        self.total = sum(self.sizes)
        if not 0 < budget < self.total:
            raise ValueError(f"visible token budget must be between 1 and {self.total - 1} (the tokens of "
                             f"{self.names} at this image size), got {budget}; set objective.budget")
        if alpha <= 0:
            raise ValueError(f"Dirichlet alpha must be > 0 (or inf for an even split), got {alpha}")
        self.budget, self.alpha = int(budget), float(alpha)
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def proportions(self, batch: int) -> np.ndarray:
        """[B, M] modality shares of the visible budget."""
        m = len(self.names)
        if math.isinf(self.alpha) or m == 1:
            return np.full((batch, m), 1.0 / m)
        return self.rng.dirichlet([self.alpha] * m, size=batch)

    def __call__(self, batch: int) -> MaskDraw:
        want = np.minimum(np.rint(self.proportions(batch) * self.budget), self.sizes).astype(np.int64)  # [B, M]
        noise = self.rng.random((batch, self.total))  # [B, N_total]
        chosen = np.zeros((batch, self.total), bool)
        start = 0
        for j, n in enumerate(self.sizes):
            rank = noise[:, start:start + n].argsort(1).argsort(1)  # [B, n] random rank inside the modality
            chosen[:, start:start + n] = rank < want[:, j:j + 1]
            start += n
        # Rounding can miss the budget by a token or two: keep chosen tokens first, then fill or trim
        # at random, so every sample has exactly `budget` visible tokens.
        order = np.argsort((~chosen) + self.rng.random((batch, self.total)), axis=1, kind="stable")
        idx = np.sort(order[:, : self.budget], axis=1)  # [B, V]
        visible = np.zeros((batch, self.total), bool)
        np.put_along_axis(visible, idx, True, axis=1)
        bounds = np.cumsum([0, *self.sizes])
        counts = np.stack([visible[:, a:b].sum(1) for a, b in zip(bounds[:-1], bounds[1:])], 1)  # [B, M]
        return MaskDraw(torch.from_numpy(idx), torch.from_numpy(visible), torch.from_numpy(counts))

    def state_dict(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["bit_generator"]
