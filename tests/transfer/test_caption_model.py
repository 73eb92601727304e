"""Caption decoder: teacher-forcing loss, gradients, greedy vs beam decoding, patch-size check."""

import pytest
import torch

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.caption_model import CaptionModel


def _model(**kw):
    torch.manual_seed(0)
    return CaptionModel(tiny_encoder(), vocab_size=12, d_model=32, layers=1, heads=2, max_len=10, **kw)


def test_teacher_forcing_shapes_loss_and_gradients():
    m = _model()
    tokens = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])  # BOS … EOS PAD
    logits = m(torch.rand(2, 3, 64, 64), tokens)
    assert logits.shape == (2, 4, 12)
    loss = m.loss(torch.rand(2, 3, 64, 64), tokens)
    assert abs(loss.item() - torch.log(torch.tensor(12.0)).item()) < 1.0  # near uniform at init
    loss.backward()
    for name, p in m.named_parameters():
        if not name.startswith("encoder.") or name.startswith("encoder.blocks."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_padding_does_not_change_the_loss_of_real_tokens():
    m = _model()
    rgb = torch.rand(1, 3, 64, 64)
    short = torch.tensor([[1, 5, 6, 2]])
    padded = torch.tensor([[1, 5, 6, 2, 0, 0]])
    assert m.loss(rgb, short).item() == pytest.approx(m.loss(rgb, padded).item(), rel=1e-5)


def test_greedy_equals_beam_of_one_and_never_emits_pad_or_bos():
    m = _model().eval()
    rgb = torch.rand(3, 3, 64, 64)
    greedy = m.greedy(rgb, max_len=8)
    assert greedy == m.beam(rgb, beam_size=1, max_len=8, length_penalty=0.0)
    for seq in greedy + m.beam(rgb, beam_size=3, max_len=8):
        assert len(seq) <= 7 and 0 not in seq and 1 not in seq and 2 not in seq  # EOS stripped


def test_patch_size_mismatch():
    with pytest.raises(ValueError, match="encoder patch size 8 does not match the patch size 16"):
        _model(patch_size=16)
