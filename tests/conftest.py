"""Test-wide settings: no network services, deterministic threads, wandb never contacted."""

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"


@pytest.fixture
def shared_asset():
    """Path to a file of ../shared/assets (tests may read it; the product never needs it)."""

    def get(name: str) -> Path:
        p = SHARED_ASSETS / name
        if not p.exists():
            pytest.skip(f"shared asset {p} is not present in this checkout")
        return p

    return get
