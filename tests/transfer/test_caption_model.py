"""Caption decoder: teacher-forcing loss, gradients, greedy vs beam decoding, patch-size check."""

import pytest
import torch

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.caption_model import CaptionModel


def _model(**kw):
    torch.manual_seed(0)
    return CaptionModel(tiny_encoder(), vocab_size=12, d_model=32, layers=1, heads=2, max_len=10, **kw)


def _sharp_model():
    """Sharper, EOS-prone logits: hypotheses end at different steps, so a beam has several to rank."""
    m = _model().eval()
    with torch.no_grad():
        m.out.weight.mul_(8.0)
        m.out.bias[m.eos_id] += 2.0
    return m


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


@torch.no_grad()
def _reference_beam(m, rgb, beam_size, max_len, length_penalty):
    """The textbook search, one image at a time (what the batched ``beam`` must reproduce)."""
    out = []
    for b in range(rgb.shape[0]):
        mem = m.encode(rgb[b : b + 1])
        beams, finished = [([m.bos_id], 0.0)], []
        for _ in range(max_len - 1):
            logp = m._next_logprobs(mem.expand(len(beams), -1, -1), torch.tensor([s for s, _ in beams]))
            cand = []
            for (s, score), lp in zip(beams, logp):
                top = lp.topk(beam_size)
                cand += [(s + [int(i)], score + float(v)) for v, i in zip(top.values, top.indices)]
            cand.sort(key=lambda c: c[1], reverse=True)
            beams = []
            for s, score in cand:
                (finished if s[-1] == m.eos_id else beams).append((s, score))
                if len(beams) == beam_size:
                    break
            if len(finished) >= beam_size or not beams:
                break
        best = max(finished or beams, key=lambda c: c[1] / max(len(c[0]) - 1, 1) ** length_penalty)
        out.append(m._strip(best[0]))
    return out


@pytest.mark.parametrize("beam_size,length_penalty", [(2, 1.0), (3, 0.0), (4, 1.0)])
def test_batched_beam_equals_the_search_image_by_image(beam_size, length_penalty):
    m = _sharp_model()
    torch.manual_seed(1)
    rgb = torch.rand(6, 3, 64, 64)
    batched = m.beam(rgb, beam_size=beam_size, max_len=10, length_penalty=length_penalty)
    assert batched == _reference_beam(m, rgb, beam_size, 10, length_penalty)
    assert len({len(s) for s in batched}) > 1  # the images stopped at different lengths
    assert batched[2:4] == m.beam(rgb[2:4], beam_size=beam_size, max_len=10, length_penalty=length_penalty)


def test_patch_size_mismatch():
    with pytest.raises(ValueError, match="encoder patch size 8 does not match the patch size 16"):
        _model(patch_size=16)


def test_beam_candidates_are_ranked_best_first_and_the_first_is_the_beam():
    m = _sharp_model()
    torch.manual_seed(2)
    rgb = torch.rand(5, 3, 64, 64)
    found = m.beam_candidates(rgb, beam_size=3, max_len=10)
    assert [c[0][0] for c in found] == m.beam(rgb, beam_size=3, max_len=10)
    for cands in found:
        scores = [s for _, s in cands]
        assert cands and scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
        assert all(m.eos_id not in ids and m.bos_id not in ids for ids, _ in cands)
    assert max(len(c) for c in found) >= 2  # hypotheses that ended: a re-ranker has a choice


def test_a_token_bias_steers_each_image_s_search_and_only_its_own():
    m = _sharp_model()
    torch.manual_seed(2)
    rgb = torch.rand(3, 3, 64, 64)
    plain = m.beam_candidates(rgb, beam_size=3, max_len=10)
    assert m.beam_candidates(rgb, beam_size=3, max_len=10, token_bias=torch.zeros(3, 12)) == plain
    banned = plain[0][0][0][0]  # the first word of image 0's best hypothesis
    bias = torch.zeros(3, 12)
    bias[0, banned] = -1e4
    steered = m.beam_candidates(rgb, beam_size=3, max_len=10, token_bias=bias)
    assert all(banned not in ids for ids, _ in steered[0])  # image 0 can no longer say it
    assert steered[1:] == plain[1:]  # the other images' searches are untouched
    favoured = torch.zeros(3, 12)
    favoured[1, 7] = 50.0  # a word image 1 never chose: now every hypothesis of it says it
    assert all(7 in ids for ids, _ in m.beam_candidates(rgb, beam_size=3, max_len=10, token_bias=favoured)[1])
    with pytest.raises(ValueError, match=r"token_bias has shape \(2, 12\); expected \[images, vocabulary\]"):
        m.beam_candidates(rgb, beam_size=3, max_len=10, token_bias=torch.zeros(2, 12))
