"""RNG capture for checkpoints: what a resumed training loop (pretraining or transfer) restores so that
it continues drawing the same random numbers as the run it continues."""

from __future__ import annotations

import torch


def rng_state(masker_state: dict) -> dict:
    """torch's CPU generator, every CUDA generator when there is a GPU, and the masker's own state."""
    state = {"torch": torch.get_rng_state(), "masker": masker_state}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Put back what :func:`rng_state` captured (CUDA generators only when this process has a GPU)."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
