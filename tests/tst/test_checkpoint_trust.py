"""Checkpoints and init files a user hands us: no code runs on load, prefixes are stripped only as
prefixes, non-finite weights are never written, and an unusable file is named with the fix."""

import errno
import math

import pytest
import torch

import tst.checkpoint as ckpt_module
from tst.checkpoint import (
    CheckpointError,
    clean_state_dict,
    export_encoder,
    load_checkpoint,
    load_encoder,
    read_state_dict,
    save_checkpoint,
)
from tst.models.vit import create_encoder


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for code a malicious file would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_init_file_is_loaded_without_running_pickled_code(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match=r"evil\.pth.*weights_only"):
        read_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=r"evil\.pth"):
        load_checkpoint(tmp_path / "evil.pth")
    assert not marker.exists()
    torch.save({"state_dict": {"module.blocks.0.w": torch.ones(2)}}, tmp_path / "plain.pth")
    assert list(read_state_dict(tmp_path / "plain.pth")) == ["blocks.0.w"]


def test_wrapper_prefixes_are_stripped_only_at_the_start():
    keys = ["submodule.w", "module.blocks.0.submodule.w", "_orig_mod.module.head._orig_mod_x", "module._orig_mod.a"]
    assert list(clean_state_dict(dict.fromkeys(keys, 0))) == [
        "submodule.w", "blocks.0.submodule.w", "head._orig_mod_x", "a"]


def test_truncated_safetensors_init_names_the_file_and_the_fix(tmp_path):
    enc = create_encoder("tst_vit_test")
    export_encoder(tmp_path / "export", enc, model_name="tst_vit_test", step=1)
    weights = tmp_path / "export" / "encoder.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    for load in (read_state_dict, load_encoder):
        with pytest.raises(CheckpointError, match=rf"{weights}.*truncated or corrupted.*export"):
            load(tmp_path / "export")


def _nan_encoder():
    enc = create_encoder("tst_vit_test")
    with torch.no_grad():
        next(enc.parameters()).fill_(math.nan)
    return enc


def test_non_finite_weights_are_never_checkpointed_or_exported(tmp_path):
    enc = _nan_encoder()
    with pytest.raises(CheckpointError, match=r"ckpt\.pt.*non-finite values \(global_tokens\)"):
        save_checkpoint(tmp_path / "ckpt.pt", model=enc, model_name="tst_vit_test", modalities=["rgb"], step=3,
                        config={})
    with pytest.raises(CheckpointError, match="non-finite"):
        export_encoder(tmp_path / "export", enc, model_name="tst_vit_test", step=3)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")])
def test_full_disk_during_a_checkpoint_names_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch, error):
    enc = create_encoder("tst_vit_test")
    kw = dict(model=enc, model_name="tst_vit_test", modalities=["rgb"], config={})
    save_checkpoint(tmp_path / "ckpt.pt", step=2, **kw)
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        real_save(obj, f, *a, **k)  # write partly, then fail as a full disk does
        raise error

    monkeypatch.setattr(ckpt_module.torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=rf"cannot write the checkpoint {tmp_path / 'ckpt.pt'}.*free"
                                              rf".*resume=true"):
        save_checkpoint(tmp_path / "ckpt.pt", step=4, **kw)
    monkeypatch.setattr(ckpt_module.torch, "save", real_save)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_our_checkpoints_load_with_weights_only(tmp_path):
    """Resume reads ckpt.pt with weights_only=True: everything we store must be plain data."""
    import numpy as np

    enc = create_encoder("tst_vit_test")
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-3)
    rng = {"torch": torch.get_rng_state(), "masker": {"bit_generator": np.random.default_rng(0).bit_generator.state}}
    save_checkpoint(tmp_path / "ckpt.pt", model=enc, model_name="tst_vit_test", modalities=["rgb"], step=1,
                    config={"lr": 1e-3, "betas": [0.9, 0.95]}, optimizer=opt, rng=rng, schedule={"lr": 1e-3})
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert state["rng"]["masker"] == rng["masker"]
    assert torch.equal(state["rng"]["torch"], rng["torch"])


def test_checkpoints_and_exports_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        enc = create_encoder("tst_vit_test")
        save_checkpoint(tmp_path / "ckpt.pt", model=enc, model_name="tst_vit_test", modalities=["rgb"], step=1,
                        config={})
        export_encoder(tmp_path / "export", enc, model_name="tst_vit_test", step=1)
    finally:
        os.umask(old)
    for f in ("ckpt.pt", "export/encoder.safetensors", "export/encoder.json"):
        assert oct((tmp_path / f).stat().st_mode & 0o777) == "0o644", f
