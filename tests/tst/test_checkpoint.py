"""Checkpoints: atomic, self-describing, clean keys; encoder exports that rebuild the same encoder;
initialisation that reports exactly which keys did not load."""

import json

import pytest
import torch
from safetensors.torch import save_file

from tst.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    clean_state_dict,
    export_encoder,
    init_encoder,
    load_checkpoint,
    load_encoder,
    save_checkpoint,
)
from tst.models.vit import create_encoder


def _enc(**kw):
    torch.manual_seed(kw.pop("seed", 0))
    return create_encoder("tst_vit_test", **kw)


def test_checkpoint_round_trip_is_self_describing_and_leaves_no_temp_files(tmp_path):
    enc = _enc(modalities=("rgb", "depth"))
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-3)
    enc(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    compiled_like = torch.nn.Module()
    compiled_like._orig_mod = enc  # what torch.compile wraps the model in
    path = save_checkpoint(tmp_path / "ckpt.pt", model=compiled_like, model_name="tst_vit_test",
                           modalities=["rgb", "depth"], step=7, config={"lr": 1e-3}, optimizer=opt,
                           rng={"torch": torch.get_rng_state()}, data_position=56)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    state = load_checkpoint(path)
    assert state["format_version"] == FORMAT_VERSION and state["model_name"] == "tst_vit_test"
    assert (state["step"], state["data_position"], state["modalities"]) == (7, 56, ["rgb", "depth"])
    assert state["config"] == {"lr": 1e-3} and state["git"]
    assert not any(k.startswith("_orig_mod.") for k in state["model"])
    fresh = _enc(modalities=("rgb", "depth"), seed=1)
    fresh.load_state_dict(state["model"])
    for k, v in enc.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    assert state["optimizer"]["state"][0]["step"] == 1


def test_clean_state_dict_and_bad_checkpoints(tmp_path):
    assert list(clean_state_dict({"module._orig_mod.blocks.0.w": 1})) == ["blocks.0.w"]
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"format_version": 99}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(tmp_path / "old.pt")


def test_export_rebuilds_the_same_encoder_from_the_path(tmp_path):
    enc = _enc(modalities=("rgb", "normal")).eval()
    export_encoder(tmp_path / "export", enc, model_name="tst_vit_test", step=3)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["encoder.json", "encoder.safetensors"]
    info = json.loads((tmp_path / "export/encoder.json").read_text())
    assert info["model_name"] == "tst_vit_test" and info["modalities"] == ["rgb", "normal"] and info["step"] == 3
    x = torch.randn(2, 3, 32, 32)
    for path in (tmp_path / "export", tmp_path / "export/encoder.safetensors", tmp_path / "export/encoder.json"):
        loaded, got_info = load_encoder(path)
        assert (loaded.patch_size, loaded.embed_dim) == (8, 64) and got_info["step"] == 3
        torch.testing.assert_close(loaded.forward_intermediates(x, indices=2, intermediates_only=True),
                                   enc.forward_intermediates(x, indices=2, intermediates_only=True))
    (tmp_path / "export/encoder.json").unlink()
    with pytest.raises(CheckpointError, match="encoder.json is missing"):
        load_encoder(tmp_path / "export")


def test_init_reports_missing_unexpected_and_mismatched_keys_exactly(tmp_path):
    src = _enc(modalities=("rgb",))
    export_encoder(tmp_path / "exp", src, model_name="tst_vit_test")
    # a bigger encoder: the depth adapter and its modality embedding cannot come from an rgb export
    dst = _enc(modalities=("rgb", "depth"), seed=5)
    report = init_encoder(dst, tmp_path / "exp")
    assert report == {"missing": ["adapters.depth.proj.bias", "adapters.depth.proj.weight", "modality_embed.depth"],
                      "unexpected": [], "mismatched": []}
    assert torch.equal(dst.blocks[1].mlp.fc2.weight, src.blocks[1].mlp.fc2.weight)
    # a pretraining checkpoint's model (encoder.* + decoders.*) and a foreign key with another shape
    sd = {f"encoder.{k}": v for k, v in src.state_dict().items()}
    sd["decoders.rgb.head.weight"] = torch.zeros(3)
    sd["encoder.norm.weight"] = torch.ones(5)
    sd["encoder.extra.w"] = torch.zeros(1)
    torch.save({"model": sd}, tmp_path / "ckpt.pt")
    report = init_encoder(_enc(modalities=("rgb",)), tmp_path / "ckpt.pt")
    assert report == {"missing": ["norm.weight"], "unexpected": ["extra.w"], "mismatched": ["norm.weight"]}
    save_file({"cls_token": torch.zeros(1, 1, 64)}, str(tmp_path / "w.safetensors"))
    report = init_encoder(_enc(modalities=("rgb",)), tmp_path / "w.safetensors")
    assert "global_tokens" not in report["missing"] and report["unexpected"] == []
    with pytest.raises(CheckpointError, match="does not exist"):
        init_encoder(dst, tmp_path / "missing.pth")
