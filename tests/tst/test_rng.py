"""RNG capture for resumable loops: restoring a captured state replays the same random numbers."""

import torch

from tst.rng import restore_rng, rng_state


def test_restore_replays_the_draws_after_the_capture():
    torch.manual_seed(3)
    torch.rand(5)
    state = rng_state({"step": 7})
    after = torch.rand(8)
    torch.rand(100)  # move on, as a crashed run would have
    restore_rng(state)
    assert torch.equal(torch.rand(8), after)
    assert state["masker"] == {"step": 7} and ("cuda" in state) == torch.cuda.is_available()
