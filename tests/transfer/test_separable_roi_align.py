"""The separable RoIAlign against torchvision's op: the same values and gradients, at every box placement."""

from collections import OrderedDict

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.det_model import build_detector
from tst.transfer.separable_roi_align import SeparableMultiScaleRoIAlign, axis_weights, separable_roi_align


def _rois(n: int, images: int, extent: float, generator: torch.Generator) -> torch.Tensor:
    """Boxes inside, across and outside the image, some smaller than a cell (clamped to one)."""
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * (extent + 16) - 8
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * extent / 2 + 0.05
    batch = torch.randint(0, images, (n, 1), generator=generator).double()
    return torch.cat([batch, xy, xy + wh], dim=1)


@pytest.mark.parametrize("ratio, output_size, scale", [(2, (7, 7), 0.5), (1, (5, 3), 0.25), (3, (2, 4), 1.0)])
def test_values_and_gradients_match_torchvision(ratio, output_size, scale):
    g = torch.Generator().manual_seed(ratio)
    feature = torch.randn(3, 4, 9, 13, dtype=torch.float64, generator=g, requires_grad=True)
    rois = _rois(60, 3, 13 / scale, g)
    ours = separable_roi_align(feature, rois, output_size, scale, ratio)
    theirs = roi_align(feature, rois, output_size, scale, ratio)
    assert ours.shape == theirs.shape == (60, 4, *output_size)
    assert torch.allclose(ours, theirs, atol=1e-12)
    weight = torch.randn(ours.shape, dtype=torch.float64, generator=g)
    (grad_ours,) = torch.autograd.grad((ours * weight).sum(), feature)
    (grad_theirs,) = torch.autograd.grad((theirs * weight).sum(), feature)
    assert torch.allclose(grad_ours, grad_theirs, atol=1e-12)


def test_axis_weights_of_a_box_inside_sum_to_one_per_bin_and_zero_far_outside():
    w = axis_weights(torch.tensor([1.0, -30.0]), torch.tensor([5.0, -20.0]), size=8, bins=2, ratio=2)
    assert torch.allclose(w[0].sum(1), torch.ones(2))
    # the first bin of [1, 5] samples at 1.5 and 2.5: half of cell 1, cells 2 and a half of 3, averaged
    assert torch.allclose(w[0, 0], torch.tensor([0.0, 0.25, 0.5, 0.25, 0, 0, 0, 0]))
    assert w[1].abs().sum() == 0  # every sample below -1: zero, as torchvision counts it


def test_multiscale_matches_torchvision_with_an_image_without_boxes():
    g = torch.Generator().manual_seed(0)
    feats = OrderedDict((str(i), torch.randn(3, 5, 32 >> i, 32 >> i, generator=g)) for i in range(4))
    boxes = []
    for n in (40, 0, 25):
        xy = torch.rand(n, 2, generator=g) * 48
        boxes.append(torch.cat([xy, (xy + torch.rand(n, 2, generator=g) * 60 + 1).clamp(max=64)], dim=1))
    boxes[2][:5] = torch.tensor([0.0, 0.0, 64.0, 64.0])  # whole-image boxes reach the coarse levels
    theirs = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)(feats, boxes, [(64, 64)] * 3)
    ours = SeparableMultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)(feats, boxes, [(64, 64)] * 3)
    assert ours.shape == theirs.shape == (65, 5, 7, 7)
    assert torch.allclose(ours, theirs, atol=1e-5)
    one_level = [m(["1"], 5, 2)(feats, boxes, [(64, 64)] * 3) for m in (MultiScaleRoIAlign, SeparableMultiScaleRoIAlign)]
    assert torch.allclose(one_level[0], one_level[1], atol=1e-5)
    none = SeparableMultiScaleRoIAlign(["0"], 7, 2)(feats, [torch.zeros(0, 4)] * 3, [(64, 64)] * 3)
    assert none.shape == (0, 5, 7, 7)


def test_adaptive_sampling_is_refused_by_name():
    with pytest.raises(ValueError, match="sampling_ratio > 0"):
        separable_roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5), (2, 2), 1.0, 0)


def test_detector_losses_are_the_same_with_either_roi_align():
    images = list(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 28.0], [36.0, 30.0, 60.0, 60.0]]), "labels": torch.tensor([1, 2])},
               {"boxes": torch.tensor([[10.0, 10.0, 20.0, 40.0]]), "labels": torch.tensor([2])}]
    losses = {}
    for kind in ("separable", "torchvision"):
        torch.manual_seed(0)
        det = build_detector(tiny_encoder(), num_classes=2, image_size=64, roi_align=kind, representation_size=64,
                             box_batch_size_per_image=32, rpn_batch_size_per_image=32).train()
        torch.manual_seed(1)  # the same proposal and box sampling
        losses[kind] = det(images, targets)
    for key in losses["torchvision"]:
        assert torch.allclose(losses["separable"][key], losses["torchvision"][key], rtol=1e-4), key
    with pytest.raises(ValueError, match="roi_align must be one of"):
        build_detector(tiny_encoder(), 2, 64, roi_align="fast")
