"""Input adapters: turn one dense modality into tokens of the shared encoder width.

MultiMAE keeps one small adapter per modality (keyed by the modality name of
``tst.modalities.MODALITIES``) in front of ONE shared transformer, so adding a modality never
touches the encoder. Patch embeddings are stored as timm's ``Conv2d`` weights ([D, C, p, p]) so a
timm ViT's ``patch_embed.proj`` loads into the rgb adapter unchanged, but they are applied as a
linear map on patchified pixels, which lets callers embed only the tokens they keep.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sincos_pos_embed_2d(dim: int, grid_h: int, grid_w: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding, [grid_h * grid_w, dim], rows in raster order.

    Fixed (not learned) so the same weights work at any grid size: transfer heads run the encoder
    at other resolutions than pretraining without interpolating a learned table.
    """
    if dim % 4:
        raise ValueError(f"sin-cos position embeddings need an embed dim divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # [D/4]
    ys, xs = torch.meshgrid(torch.arange(grid_h, dtype=torch.float64),
                            torch.arange(grid_w, dtype=torch.float64), indexing="ij")
    oy = ys.reshape(-1, 1) * omega  # [N, D/4]
    ox = xs.reshape(-1, 1) * omega  # [N, D/4]
    return torch.cat([ox.sin(), ox.cos(), oy.sin(), oy.cos()], dim=1).float()  # [N, D]


_SINCOS: dict[tuple[int, int, int, str], torch.Tensor] = {}  # (dim, grid_h, grid_w, device) -> [1, N, dim]


def sincos_pos_embed(dim: int, grid_h: int, grid_w: int, device: torch.device | str) -> torch.Tensor:
    """[1, grid_h*grid_w, dim] ``sincos_pos_embed_2d`` on ``device``, built once per process for every
    encoder and decoder that asks (the one position cache). Built outside inference mode, so a table
    first made by the perception plugin can still feed a training step."""
    key = (int(dim), int(grid_h), int(grid_w), str(device))
    if key not in _SINCOS:
        if torch.is_inference_mode_enabled():
            with torch.inference_mode(False):
                _SINCOS[key] = sincos_pos_embed_2d(dim, grid_h, grid_w).unsqueeze(0).to(device)
        else:
            _SINCOS[key] = sincos_pos_embed_2d(dim, grid_h, grid_w).unsqueeze(0).to(device)
    return _SINCOS[key]


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, N, C*p*p], patches in raster order, features ordered (C, p, p) like Conv2d."""
    b, c, h, w = x.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {p}; "
                         f"use an image_size divisible by {p}")
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # [B, h, w, C, p, p]
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(x: torch.Tensor, patch_size: int, channels: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """[B, N, C*p*p] -> [B, C, H, W]: the inverse of ``patchify``."""
    b, p = x.shape[0], patch_size
    x = x.reshape(b, grid_h, grid_w, channels, p, p).permute(0, 3, 1, 4, 2, 5)  # [B, C, h, p, w, p]
    return x.reshape(b, channels, grid_h * p, grid_w * p)


class PatchAdapter(nn.Module):
    """Patch embedding of one dense modality: [B, C, H, W] -> [B, N, D] tokens.

    The weight lives in ``proj`` as a Conv2d (timm layout); ``forward`` uses the equivalent linear
    map so that ``embed_patches`` can run on a gathered subset of patches.
    """

    def __init__(self, channels: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.channels, self.patch_size, self.embed_dim = channels, patch_size, embed_dim
        self.proj = nn.Conv2d(channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        # MAE/MultiMAE: initialise the patch projection like a linear layer (xavier on the flat view)
        w = self.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.proj.bias)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The per-pixel features the patch projection reads: here the image itself, [B, C, H, W]."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"adapter expects [B, {self.channels}, H, W], got a tensor of shape {tuple(x.shape)}")
        return x

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """[..., C*p*p] patchified pixels -> [..., D]."""
        return F.linear(patches, self.proj.weight.reshape(self.embed_dim, -1), self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_patches(patchify(self.pixels(x), self.patch_size))  # [B, N, D]


class ClassEmbedAdapter(PatchAdapter):
    """Label map (class ids, [B, H, W]) -> tokens: a learned vector per class at every pixel, then
    the patch projection (MultiMAE's semantic-segmentation input adapter). Ids are not magnitudes,
    so they are embedded rather than fed as numbers."""

    def __init__(self, num_classes: int, patch_size: int, embed_dim: int, class_dim: int = 64) -> None:
        super().__init__(class_dim, patch_size, embed_dim)
        self.num_classes = num_classes
        self.class_embed = nn.Embedding(num_classes, class_dim)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 3 or x.is_floating_point():
            raise ValueError(f"a label adapter takes integer class ids [B, H, W], got {x.dtype} {tuple(x.shape)}")
        top = int(x.max())
        if top >= self.num_classes or int(x.min()) < 0:
            raise ValueError(f"class id {top} is outside [0, {self.num_classes}); set num_classes to at least "
                             f"{top + 1} (the size of the split's class vocabulary)")
        return self.class_embed(x).permute(0, 3, 1, 2)  # [B, class_dim, H, W]


def grid_size(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """Token grid of an image, failing with the fix when the size does not divide."""
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch_size}; "
                         f"choose image_size as a multiple of {patch_size} (e.g. "
                         f"{max(1, math.floor(height / patch_size)) * patch_size})")
    return height // patch_size, width // patch_size
