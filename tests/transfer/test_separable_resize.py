"""separable_resize: bilinear resizing by two matmuls equals F.interpolate's, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from tst.models.vit import create_encoder
from tst.transfer import seg_head
from tst.transfer.separable_resize import axis_weights, bilinear_resize


def _interp(x, size):
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("shape,size", [((2, 3, 4, 4), (8, 8)), ((2, 3, 8, 8), (32, 32)), ((1, 5, 7, 5), (16, 9)),
                                        ((2, 3, 16, 12), (6, 5)), ((1, 2, 1, 1), (4, 3)), ((2, 3, 6, 6), (6, 6)),
                                        ((3, 9, 13), (4, 26))])
def test_values_and_gradients_equal_interpolate(shape, size):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    x4 = x if x.dim() == 4 else x[None]
    ref = _interp(x4, size)
    got = bilinear_resize(x, size)
    assert got.shape == (*shape[:-2], *size)
    torch.testing.assert_close(got.reshape(ref.shape), ref, rtol=0, atol=1e-12)
    w = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    (gr,) = torch.autograd.grad((ref * w).sum(), x)
    (gg,) = torch.autograd.grad((got.reshape(ref.shape) * w).sum(), x)
    torch.testing.assert_close(gg, gr, rtol=0, atol=1e-12)


def test_axis_weights_rows_are_two_taps_summing_to_one():
    a = axis_weights(5, 12, torch.float64)
    assert a.shape == (12, 5)
    torch.testing.assert_close(a.sum(1), torch.ones(12, dtype=torch.float64))
    assert int((a > 0).sum(1).max()) <= 2
    assert torch.equal(axis_weights(4, 4, torch.float64), torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="positive"):
        axis_weights(0, 3)


def test_weights_first_built_in_inference_mode_still_train():
    with torch.inference_mode():  # as the perception plugin resizes
        bilinear_resize(torch.rand(1, 2, 5, 3), (11, 7))
    x = torch.rand(1, 2, 5, 3, requires_grad=True)
    bilinear_resize(x, (11, 7)).sum().backward()  # the cached weights are saved for backward
    assert x.grad is not None and x.grad.shape == x.shape


def test_integer_tensors_fall_back_to_interpolate():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(bilinear_resize(x.double(), (8, 8)), _interp(x.double(), (8, 8)))
    with pytest.raises(RuntimeError):  # F.interpolate's own refusal of integer input, not a silent matmul
        bilinear_resize(x.long(), (8, 8))


def test_uper_head_gives_the_logits_and_gradients_of_interpolate(monkeypatch):
    torch.manual_seed(0)
    enc = create_encoder("tst_vit_test")
    model = seg_head.SegModel(enc, seg_head.build_seg_head("uper", enc, 7, channels=16)).double().eval()
    x = torch.rand(2, 3, 64, 48, dtype=torch.float64)
    got = model(x)
    got.square().sum().backward()
    g_got = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    monkeypatch.setattr(seg_head, "bilinear_resize", _interp)
    ref = model(x)
    ref.square().sum().backward()
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-10)
    g_ref = [p.grad for p in model.parameters()]
    assert [a is None for a in g_got] == [b is None for b in g_ref] and sum(a is not None for a in g_got) > 20
    for a, b in zip(g_got, g_ref):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
