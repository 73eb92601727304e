"""Dirichlet masking: an exact visible budget per sample, split as alpha says, reproducible from state."""

import numpy as np
import pytest
import torch

from tst.pretrain.masking import DirichletMasker

TOKENS = {"rgb": 16, "depth": 16, "normal": 16}


def test_every_sample_sees_exactly_the_budget_and_counts_match_the_mask():
    draw = DirichletMasker(TOKENS, budget=12, alpha=1.0, seed=0)(64)
    assert draw.visible_idx.shape == (64, 12)
    assert draw.visible.sum(1).tolist() == [12] * 64
    assert torch.equal(draw.visible.gather(1, draw.visible_idx), torch.ones(64, 12, dtype=torch.bool))
    assert torch.all(draw.visible_idx[:, 1:] > draw.visible_idx[:, :-1]), "indices are sorted and unique"
    per_mod = draw.visible.view(64, 3, 16).sum(2)
    assert torch.equal(per_mod, draw.counts)


def test_alpha_controls_the_split():
    even = DirichletMasker(TOKENS, budget=12, alpha=float("inf"), seed=0)(32)
    assert even.counts.tolist() == [[4, 4, 4]] * 32
    lopsided = DirichletMasker(TOKENS, budget=12, alpha=0.2, seed=0)(512).counts.float()
    balanced = DirichletMasker(TOKENS, budget=12, alpha=20.0, seed=0)(512).counts.float()
    assert lopsided.std(1).mean() > 2 * balanced.std(1).mean()
    # symmetric: every modality gets a third of the budget on average
    np.testing.assert_allclose(lopsided.mean(0).numpy(), [4, 4, 4], atol=0.6)
    # lopsided draws hide some modality completely in many samples (cross-modal prediction)
    assert (lopsided.min(1).values == 0).float().mean() > 0.3


def test_a_modality_never_shows_more_tokens_than_it_has():
    counts = DirichletMasker({"rgb": 4, "depth": 16}, budget=12, alpha=0.1, seed=1)(256).counts
    assert counts[:, 0].max() <= 4 and counts.sum(1).tolist() == [12] * 256


def test_state_round_trip_reproduces_the_next_draws():
    a = DirichletMasker(TOKENS, budget=12, alpha=1.0, seed=3)
    a(8)
    state = a.state_dict()
    want = a(8)
    b = DirichletMasker(TOKENS, budget=12, alpha=1.0, seed=99)
    b.load_state_dict(state)
    got = b(8)
    assert torch.equal(got.visible_idx, want.visible_idx)
    assert not torch.equal(DirichletMasker(TOKENS, 12, 1.0, seed=4)(8).visible_idx, want.visible_idx)


def test_bad_budget_and_alpha():
    with pytest.raises(ValueError, match="between 1 and 47"):
        DirichletMasker(TOKENS, budget=48)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        DirichletMasker(TOKENS, budget=8, alpha=0)
