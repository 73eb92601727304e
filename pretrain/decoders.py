"""Per-modality output adapters: light decoders that reconstruct the masked patches of one modality.

MultiMAE's spatial output adapter: the encoder tokens are projected to the decoder width; the
queries are the modality's token grid (its encoded visible tokens where it had some, a learned
mask token elsewhere) plus sin-cos positions and a learned modality query embedding; one
cross-attention to *all* encoder tokens lets a masked depth patch read the rgb that was visible
there, then a few transformer blocks over the modality's grid, then a linear map to pixels.
Attention uses fused ``scaled_dot_product_attention`` (timm ``Block`` and ``CrossAttention`` here).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import Mlp, trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from tst.models.adapters import sincos_pos_embed
from tst.models.vit import _init_weights


class CrossAttention(nn.Module):
    """Queries [B, Nq, D] attend to a context [B, Nk, D] (fused SDPA)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decoder width {dim} is not divisible by its {num_heads} heads")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, nq, d = x.shape
        h = self.num_heads
        q = self.q(x).reshape(b, nq, h, d // h).transpose(1, 2)  # [B, h, Nq, d/h]
        k, v = self.kv(context).reshape(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)  # 2 x [B, h, Nk, d/h]
        out = F.scaled_dot_product_attention(q, k, v)  # [B, h, Nq, d/h]
        return self.proj(out.transpose(1, 2).reshape(b, nq, d))


class OutputAdapter(nn.Module):
    """Decoder of one modality with ``channels`` channels and patches of ``patch_size``."""

    def __init__(self, channels: int, patch_size: int, encoder_dim: int, dim: int = 256, depth: int = 2,
                 num_heads: int = 8, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.channels, self.patch_size, self.dim = channels, patch_size, dim
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.context_proj = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.query_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm_q, self.norm_ctx, self.norm_mlp = norm(dim), norm(dim), norm(dim)
        self.cross = CrossAttention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.blocks = nn.Sequential(*[Block(dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=norm)
                                      for _ in range(depth)])
        self.norm = norm(dim)
        self.head = nn.Linear(dim, channels * patch_size * patch_size)
        self.apply(_init_weights)
        trunc_normal_(self.mask_token, std=0.02)
        trunc_normal_(self.query_embed, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"mask_token", "query_embed"}

    def _pos_embed(self, gh: int, gw: int, device: torch.device) -> torch.Tensor:
        return sincos_pos_embed(self.dim, gh, gw, device)  # [1, N, dim], the shared cache

    def forward(self, encoded: torch.Tensor, visible_idx: torch.Tensor, visible: torch.Tensor,
                span: tuple[int, int], grid: tuple[int, int], num_prefix: int,
                predict: torch.Tensor | None = None) -> torch.Tensor:
        """encoded [B, G+V, E] encoder output; visible_idx [B, V]; visible [B, N_total] bool;
        span: this modality's slice of the concatenated tokens; grid: (gh, gw) with gh*gw = its length.

        Returns [B, N_m, C*p*p] for every patch, or [K, C*p*p] for the K patches where ``predict``
        ([B, N_m] bool) is True: the head is per token, so skipping the visible ones changes nothing
        for a loss on masked tokens.
        """
        b, n_total = visible.shape
        ctx = self.context_proj(encoded)  # [B, G+V, dim]
        idx = visible_idx.unsqueeze(-1).expand(-1, -1, self.dim)  # [B, V, dim]
        placed = ctx.new_zeros(b, n_total, self.dim).scatter(1, idx, ctx[:, num_prefix:])  # [B, N_total, dim]
        start, stop = span
        q = torch.where(visible[:, start:stop, None], placed[:, start:stop], self.mask_token)  # [B, N_m, dim]
        q = q + self._pos_embed(*grid, q.device) + self.query_embed
        x = q + self.cross(self.norm_q(q), self.norm_ctx(ctx))
        x = x + self.mlp(self.norm_mlp(x))
        if predict is None:
            return self.head(self.norm(self.blocks(x)))  # [B, N_m, C*p*p]
        # Only masked tokens are predicted: the last block's attention still needs every token as a
        # key, but its MLP, the norm and the head are per token, so they run on the K masked ones.
        x = self.blocks[:-1](x)
        last = self.blocks[-1]
        x = (x + last.drop_path1(last.ls1(last.attn(last.norm1(x)))))[predict]  # [K, dim]
        x = x + last.drop_path2(last.ls2(last.mlp(last.norm2(x))))
        return self.head(self.norm(x))  # [K, C*p*p]
