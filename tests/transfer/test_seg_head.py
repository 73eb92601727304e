"""Segmentation heads: output shapes, gradients into every parameter, patch-size mismatch."""

import pytest
import torch

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.seg_head import SegModel, build_seg_head


@pytest.mark.parametrize("kind", ["uper", "linear"])
def test_shapes_and_every_parameter_gets_a_gradient(kind):
    enc = tiny_encoder()
    model = SegModel(enc, build_seg_head(kind, enc, 5))
    logits = model(torch.rand(2, 3, 56, 48))  # padded to the encoder's 64x64, cropped back
    assert logits.shape == (2, 5, 56, 48)
    logits.square().mean().backward()
    for name, p in model.head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for name, p in model.encoder.blocks.named_parameters():  # full finetuning reaches the encoder
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_uper_levels_span_the_encoder_and_linear_uses_the_last_block():
    enc = tiny_encoder()
    assert SegModel(enc, build_seg_head("uper", enc, 3)).levels == [0, 0, 1, 1]
    assert SegModel(enc, build_seg_head("linear", enc, 3)).levels == [1]


def test_encoder_with_another_patch_size_is_refused():
    head = build_seg_head("uper", tiny_encoder(patch_size=8), 3)
    with pytest.raises(ValueError, match="encoder patch size 16 does not match the patch size 8"):
        SegModel(tiny_encoder(patch_size=16), head)
    with pytest.raises(KeyError, match=r"known heads: \['linear', 'uper'\]"):
        build_seg_head("dpt", tiny_encoder(), 3)


def test_uper_fuse_kernel_1_fuses_by_a_pointwise_conv_and_other_kernels_are_refused():
    enc = tiny_encoder()
    full, cheap = build_seg_head("uper", enc, 5), build_seg_head("uper", enc, 5, fuse_kernel=1)
    assert full.fuse[0].kernel_size == (3, 3) and cheap.fuse[0].kernel_size == (1, 1)
    assert full.fuse[0].weight.numel() == 9 * cheap.fuse[0].weight.numel()
    assert SegModel(enc, cheap)(torch.rand(2, 3, 64, 64)).shape == (2, 5, 64, 64)
    with pytest.raises(ValueError, match="fuse_kernel must be 1 or 3, got 5"):
        build_seg_head("uper", enc, 5, fuse_kernel=5)
