"""Semantic segmentation heads on multi-level ViT features: an UPerNet fusion head and a linear probe.

A plain ViT has one resolution (stride = patch size) at every depth. Following BEiT/ViTDet we take
four blocks spread over the depth and resample them to strides p/4, p/2, p and 2p (transposed convs
up, max-pool down), which gives the pyramid UPerNet expects: an FPN top-down path plus a pyramid
pooling module on the coarsest level, all fused at the finest stride. The linear head is the
probing protocol: BatchNorm + a 1x1 conv on the last block, nothing else to learn.

Both heads record the ``patch_size`` they were built for; :class:`SegModel` checks it against the
encoder it is given.
"""

from __future__ import annotations

import torch
from torch import nn

from tst.transfer.backbone import (
    Normalize,
    check_patch_size,
    depth_of,
    embed_dim_of,
    feature_levels,
    multilevel_features,
    pad_for_encoder,
    patch_size_of,
)
from tst.transfer.separable_resize import bilinear_resize


def conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def rescale_block(dim: int, scale: float) -> nn.Module:
    """Resample a stride-p map by ``scale`` in {4, 2, 1, 0.5} (ViTDet's simple pyramid)."""
    if scale == 4:
        return nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2), nn.BatchNorm2d(dim), nn.GELU(),
                             nn.ConvTranspose2d(dim, dim, 2, 2))
    if scale == 2:
        return nn.ConvTranspose2d(dim, dim, 2, 2)
    if scale == 1:
        return nn.Identity()
    if scale == 0.5:
        return nn.MaxPool2d(2, ceil_mode=True)
    raise ValueError(f"unsupported scale {scale}; use 4, 2, 1 or 0.5")


class UPerHead(nn.Module):
    """Four [B, D, h, w] maps -> logits [B, K, 4h, 4w] (stride p/4), UPerNet style."""

    scales = (4, 2, 1, 0.5)

    def __init__(self, embed_dim: int, num_classes: int, patch_size: int, channels: int = 64,
                 pool_scales: tuple[int, ...] = (1, 2, 3, 6), fuse_kernel: int = 3):
        super().__init__()
        self.patch_size, self.num_levels = patch_size, len(self.scales)
        self.rescale = nn.ModuleList(rescale_block(embed_dim, s) for s in self.scales)
        self.ppm = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(s), conv_bn_relu(embed_dim, channels, 1))
                                 for s in pool_scales)
        self.ppm_out = conv_bn_relu(embed_dim + len(pool_scales) * channels, channels, 3)
        self.lateral = nn.ModuleList(conv_bn_relu(embed_dim, channels, 1) for _ in self.scales[:-1])
        self.fpn_out = nn.ModuleList(conv_bn_relu(channels, channels, 3) for _ in self.scales[:-1])
        # UPerNet fuses the concatenated levels with a 3x3 conv; at 64 channels that conv is two thirds of a
        # training step's FLOPs (tst_vit_test, 64 px). fuse_kernel=1 is the cheaper variant.
        if fuse_kernel not in (1, 3):
            raise ValueError(f"fuse_kernel must be 1 or 3, got {fuse_kernel}")
        self.fuse = conv_bn_relu(len(self.scales) * channels, channels, fuse_kernel)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        xs = [r(f) for r, f in zip(self.rescale, feats)]  # strides p/4, p/2, p, 2p
        top = xs[-1]  # [B, D, h/2, w/2]
        pooled = [bilinear_resize(m(top), top.shape[-2:]) for m in self.ppm]
        lat = [lat_conv(x) for lat_conv, x in zip(self.lateral, xs[:-1])]  # [B, C, …]
        lat.append(self.ppm_out(torch.cat([top, *pooled], dim=1)))
        for i in range(len(lat) - 1, 0, -1):  # top-down path
            lat[i - 1] = lat[i - 1] + bilinear_resize(lat[i], lat[i - 1].shape[-2:])
        outs = [conv(x) for conv, x in zip(self.fpn_out, lat[:-1])] + [lat[-1]]
        size = outs[0].shape[-2:]
        outs = [outs[0]] + [bilinear_resize(o, size) for o in outs[1:]]
        return self.classifier(self.fuse(torch.cat(outs, dim=1)))  # [B, K, 4h, 4w]


class LinearHead(nn.Module):
    """Probing head: BatchNorm + 1x1 conv on the last block's [B, D, h, w] map -> logits [B, K, h, w]."""

    def __init__(self, embed_dim: int, num_classes: int, patch_size: int):
        super().__init__()
        self.patch_size, self.num_levels = patch_size, 1
        self.bn = nn.BatchNorm2d(embed_dim)
        self.classifier = nn.Conv2d(embed_dim, num_classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.bn(feats[-1]))


HEADS = {"uper": UPerHead, "linear": LinearHead}


def build_seg_head(kind: str, encoder: nn.Module, num_classes: int, **kwargs) -> nn.Module:
    if kind not in HEADS:
        raise KeyError(f"unknown segmentation head {kind!r}; known heads: {sorted(HEADS)}")
    return HEADS[kind](embed_dim_of(encoder), num_classes, patch_size_of(encoder), **kwargs)


class SegModel(nn.Module):
    """rgb [B, 3, H, W] in [0, 1] -> logits [B, K, H, W] (whole-image inference, bilinear upsampling).

    Channel k of the logits is class ``k`` of the task's contiguous numbering (the task maps the
    vocabulary ids onto it).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        check_patch_size(encoder, head.patch_size, f"the {type(head).__name__}")
        self.encoder, self.head, self.normalize = encoder, head, Normalize()
        self.levels = feature_levels(depth_of(encoder), head.num_levels)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        h, w = rgb.shape[-2:]
        x = pad_for_encoder(self.encoder, self.normalize(rgb))  # [B, 3, H', W']
        feats = multilevel_features(self.encoder, x, self.levels)  # L x [B, D, H'/p, W'/p]
        logits = self.head(feats)  # [B, K, ·, ·]
        logits = bilinear_resize(logits, x.shape[-2:])
        return logits[..., :h, :w]  # [B, K, H, W]
