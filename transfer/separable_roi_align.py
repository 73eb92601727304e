"""RoIAlign as two small matrix products: torchvision's result, without its slow CPU backward.

torchvision's ``roi_align`` backward on CPU is a serial loop of scattered adds. Profiled on a detector
training step (tst_vit_test, batch 8 of 64 px, 128 RoIs per image, one thread) it was 32 % of the
step, more than all the convolutions. Bilinear sampling on a fixed grid is separable: every output
bin is ``Wy @ F @ Wx^T`` for a [bins, H] row-weight and a [bins, W] column-weight matrix built from
the box alone. Written that way, the forward and backward are batched matmuls (autograd's own).
The weights follow torchvision's legacy (``aligned=False``) sampling exactly: samples at
``(j + 0.5) / ratio`` of each bin, coordinates below 0 clamped to 0, the last row or column
repeated past ``size - 1``, samples beyond ``[-1, size]`` counted as zero; the tests compare the two
ops, value and gradient. Boxes get no gradient (torchvision's op gives none either).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.poolers import _filter_input, _setup_scales  # the level assignment torchvision uses


def axis_weights(start: Tensor, end: Tensor, size: int, bins: int, ratio: int) -> Tensor:
    """Boxes' [K] start and end along one axis, in feature cells -> sampling weights [K, bins, size].

    Row ``i`` holds the weight of each cell in bin ``i``'s average of ``ratio`` bilinear samples.
    """
    length = (end - start).clamp(min=1.0)  # torchvision forces a box of at least one cell
    steps = torch.arange(bins * ratio, dtype=start.dtype, device=start.device)
    coords = start[:, None] + (steps + 0.5)[None] * (length / (bins * ratio))[:, None]  # [K, bins * ratio]
    valid = ((coords >= -1.0) & (coords <= size)).to(start.dtype)
    coords = coords.clamp(min=0.0)
    low = coords.floor().long()
    edge = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(edge, low, low + 1)
    frac = torch.where(edge, torch.zeros_like(coords), coords - low.to(coords.dtype))
    weights = torch.zeros(start.shape[0], bins * ratio, size, dtype=start.dtype, device=start.device)
    weights.scatter_add_(2, low[..., None], ((1.0 - frac) * valid / ratio)[..., None])
    weights.scatter_add_(2, high[..., None], (frac * valid / ratio)[..., None])
    return weights.view(start.shape[0], bins, ratio, size).sum(2)  # [K, bins, size]


def separable_roi_align(feature: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                        sampling_ratio: int) -> Tensor:
    """``torchvision.ops.roi_align(feature, rois, output_size, spatial_scale, sampling_ratio)`` with
    ``aligned=False`` and a fixed ``sampling_ratio > 0``: feature [B, C, H, W], rois [K, 5] (batch index,
    x1, y1, x2, y2 in image coordinates) -> [K, C, ph, pw]."""
    if sampling_ratio <= 0:
        raise ValueError(f"separable_roi_align needs a fixed sampling_ratio > 0, got {sampling_ratio}")
    _, channels, height, width = feature.shape
    ph, pw = output_size
    if rois.shape[0] == 0:
        return feature.new_zeros(0, channels, ph, pw)
    with torch.no_grad():
        box = rois[:, 1:].to(feature.dtype) * spatial_scale
        wy = axis_weights(box[:, 1], box[:, 3], height, ph, sampling_ratio)  # [K, ph, H]
        wx = axis_weights(box[:, 0], box[:, 2], width, pw, sampling_ratio)  # [K, pw, W]
        image = rois[:, 0].long()
    order, pieces = [], []
    for b in image.unique().tolist():
        idx = (image == b).nonzero()[:, 0]
        rows = torch.einsum("kiy,cyx->kcix", wy[idx], feature[b])  # [k, C, ph, W]
        pieces.append(torch.einsum("kcix,kjx->kcij", rows, wx[idx]))  # [k, C, ph, pw]
        order.append(idx)
    return _in_order(pieces, order)


def _in_order(pieces: list[Tensor], order: list[Tensor]) -> Tensor:
    """Rows computed in groups (``pieces[g]`` for the indices ``order[g]``) -> one tensor in index order."""
    order_all = torch.cat(order)
    inverse = torch.empty_like(order_all)
    inverse[order_all] = torch.arange(len(order_all), device=order_all.device)
    return torch.cat(pieces)[inverse]


class SeparableMultiScaleRoIAlign(MultiScaleRoIAlign):
    """torchvision's ``MultiScaleRoIAlign`` (same level assignment and scales) over :func:`separable_roi_align`."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        feats = _filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(feats, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)])
        if len(rois) == 0:
            return feats[0].new_zeros(0, feats[0].shape[1], *self.output_size)
        levels = self.map_levels(boxes)  # one level: all 0 (its mapper's k_min = k_max)
        order, pieces = [], []
        for level, (feat, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == level)[0]
            if idx.numel():
                pieces.append(separable_roi_align(feat, rois[idx], self.output_size, scale, self.sampling_ratio))
                order.append(idx)
        return _in_order(pieces, order)
