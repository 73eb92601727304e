"""ViTDet-style detector: a simple feature pyramid from the ViT's last map feeding torchvision Faster R-CNN.

ViTDet showed that a plain ViT needs no hierarchical backbone: the last block's stride-p map,
resampled to strides p/4, p/2, p, 2p (plus a max-pooled 4p level for the RPN), is enough. Everything
after the pyramid is torchvision's: anchor generation, RPN, box coding, RoIAlign's level assignment,
the two-MLP box head, NMS and the image transform. Only RoIAlign's sampling is ours by default
(``separable_roi_align``: the same values, a faster CPU backward). No weights are downloaded.

Labels inside the model are contiguous ``1..K`` (0 is torchvision's background); the detection task
maps them to and from the dataset's category ids.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from tst.transfer.backbone import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_patch_size,
    depth_of,
    embed_dim_of,
    multilevel_features,
    pad_for_encoder,
    patch_size_of,
)
from tst.transfer.seg_head import rescale_block
from tst.transfer.separable_roi_align import SeparableMultiScaleRoIAlign


class SimpleFeaturePyramid(nn.Module):
    """Normalised images [B, 3, H, W] -> OrderedDict of [B, C, ·, ·] maps: '0'..'3' at strides
    p/4, p/2, p, 2p and 'pool' at 4p (torchvision's FPN naming)."""

    scales = (4, 2, 1, 0.5)

    def __init__(self, encoder: nn.Module, out_channels: int = 64):
        super().__init__()
        self.encoder = encoder
        self.patch_size = patch_size_of(encoder)
        self.out_channels = out_channels  # read by torchvision's FasterRCNN
        self.last = depth_of(encoder) - 1
        dim = embed_dim_of(encoder)
        self.stages = nn.ModuleList(
            nn.Sequential(rescale_block(dim, s), nn.Conv2d(dim, out_channels, 1, bias=False),
                          nn.GroupNorm(1, out_channels),  # channel LayerNorm, stable at batch size 1
                          nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                          nn.GroupNorm(1, out_channels))
            for s in self.scales)
        self.pool = nn.MaxPool2d(1, stride=2)

    def strides(self) -> list[float]:
        p = self.patch_size
        return [p / s for s in self.scales] + [4.0 * p]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = pad_for_encoder(self.encoder, x)
        (feat,) = multilevel_features(self.encoder, x, [self.last])  # [B, D, H/p, W/p]
        out = OrderedDict((str(i), stage(feat)) for i, stage in enumerate(self.stages))
        out["pool"] = self.pool(out[str(len(self.stages) - 1)])  # [B, C, H/4p, W/4p]
        return out


ROI_ALIGNS = {"separable": SeparableMultiScaleRoIAlign, "torchvision": MultiScaleRoIAlign}


def build_detector(encoder: nn.Module, num_classes: int, image_size: int, *, patch_size: int | None = None,
                   out_channels: int = 64, representation_size: int = 1024, anchor_scale: float = 8.0,
                   roi_align: str = "separable", **rcnn_kwargs) -> FasterRCNN:
    """A Faster R-CNN over ``encoder`` for ``num_classes`` foreground classes (labels 1..K).

    image_size: images are resized so their longer side is ``image_size`` (square sets keep their
    size). patch_size: the patch size a saved head was built for, checked against the encoder.
    representation_size: width of torchvision's two-MLP box head (its default is 1024).
    anchor_scale: anchor side = scale x level stride (ViTDet: 32..512 px for p=16).
    roi_align: "separable" (the same values as torchvision's, 2-3x faster to train on CPU: see
    ``separable_roi_align``) or "torchvision" (its own op, which det heads before 2026-12-03 trained with).
    rcnn_kwargs go to torchvision's ``FasterRCNN`` (e.g. ``rpn_batch_size_per_image``).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1 (foreground classes), got {num_classes}")
    if patch_size is not None:
        check_patch_size(encoder, patch_size, "this detector")
    backbone = SimpleFeaturePyramid(encoder, out_channels)
    sizes = tuple((int(round(anchor_scale * s)),) for s in backbone.strides())
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=((0.5, 1.0, 2.0),) * len(sizes))
    if roi_align not in ROI_ALIGNS:
        raise ValueError(f"roi_align must be one of {sorted(ROI_ALIGNS)}, got {roi_align!r}")
    roi_pool = ROI_ALIGNS[roi_align](featmap_names=["0", "1", "2", "3"], output_size=7, sampling_ratio=2)
    box_head = TwoMLPHead(out_channels * roi_pool.output_size[0] * roi_pool.output_size[1], representation_size)
    box_predictor = FastRCNNPredictor(representation_size, num_classes + 1)  # + background
    rcnn_kwargs.setdefault("size_divisible", 2 * backbone.patch_size)  # the 2p level must tile exactly
    return FasterRCNN(backbone, min_size=image_size, max_size=image_size,
                      image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD), rpn_anchor_generator=anchors,
                      box_roi_pool=roi_pool, box_head=box_head, box_predictor=box_predictor, **rcnn_kwargs)


def boxes_from_instances(instance: torch.Tensor, semseg: torch.Tensor, min_pixels: int = 1
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """instance [H, W] and semseg [H, W] id maps -> boxes [N, 4] (x1, y1, x2, y2, pixel edges) and the
    majority semseg class of each instance [N]. Instance 0 and pixels of class 0 are ignored."""
    boxes, labels = [], []
    for iid in torch.unique(instance).tolist():
        if iid == 0:
            continue
        m = (instance == iid) & (semseg > 0)
        if int(m.sum()) < min_pixels:
            continue
        ys, xs = torch.nonzero(m, as_tuple=True)
        boxes.append([xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1])
        labels.append(int(torch.mode(semseg[m]).values))
    return (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            torch.tensor(labels, dtype=torch.int64))
