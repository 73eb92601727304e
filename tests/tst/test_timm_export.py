"""The timm export: loads strictly into a stock timm ViT and gives our features; timm's layer-decay
helpers read MultiViT's parameter groups."""

import json

import pytest
import timm
import torch
from safetensors.torch import load_file
from timm.optim import param_groups_layer_decay

from tst.models.vit import create_encoder
from tst.timm_export import export_timm, timm_spec, to_timm_state_dict


def _trained_like(name, **kw):
    """An encoder whose tokens and modality embeddings are far from zero, so a dropped term shows."""
    torch.manual_seed(0)
    enc = create_encoder(name, **kw).eval()
    with torch.no_grad():
        enc.global_tokens.normal_()
        for p in enc.modality_embed.values():
            p.normal_()
    return enc


def test_export_loads_strictly_into_the_stock_timm_vit_and_gives_our_features(tmp_path):
    ours = _trained_like("tst_vit_tiny", modalities=("rgb", "depth"))
    info = export_timm(tmp_path, ours, "tst_vit_tiny")
    assert info["model"] == "vit_tiny_patch16_224" and info["kwargs"] == {"num_classes": 0}
    ref = timm.create_model("vit_tiny_patch16_224", num_classes=0).eval()
    ref.load_state_dict(load_file(str(tmp_path / info["file"])), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        want = ours.forward_features(x)  # [B, 1+196, 192]
        torch.testing.assert_close(ref.forward_features(x), want, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ref(x), want[:, 0], rtol=1e-4, atol=1e-4)  # pooled = class token
    # the one-line load recorded in encoder.json goes through timm's own pretrained path, strictly
    via_cfg = timm.create_model("vit_tiny_patch16_224", pretrained=True, num_classes=0,
                                pretrained_cfg_overlay=dict(file=str(tmp_path / "timm.safetensors"), num_classes=0))
    for k, v in ref.state_dict().items():
        assert torch.equal(via_cfg.state_dict()[k], v), k


def test_other_sizes_register_tokens_and_missing_rgb(tmp_path):
    ours = _trained_like("tst_vit_test", modalities=("rgb",), num_global_tokens=3, img_size=48)
    name, kwargs = timm_spec(ours, "tst_vit_test")
    assert name == "vit_tiny_patch16_224"
    assert kwargs == dict(num_classes=0, img_size=48, patch_size=8, embed_dim=64, depth=2, num_heads=2, reg_tokens=2)
    ref = timm.create_model(name, **kwargs).eval()
    ref.load_state_dict(to_timm_state_dict(ours), strict=True)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(ref.forward_features(x), ours.forward_features(x), rtol=1e-4, atol=1e-4)
    depth_only = create_encoder("tst_vit_test", modalities=("depth",))
    assert export_timm(tmp_path, depth_only, "tst_vit_test") is None
    assert not (tmp_path / "timm.safetensors").exists()
    with pytest.raises(ValueError, match="only \\['depth'\\]"):
        to_timm_state_dict(depth_only)


def _scales(model, decay=0.5):
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=decay,
                                      no_weight_decay_list=list(model.no_weight_decay()))
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g["lr_scale"] for g in groups for p in g["params"]}


def test_timm_layer_decay_groups_ours_as_it_groups_its_own_vit():
    enc = create_encoder("tst_vit_test", modalities=("rgb", "depth"))
    ours = _scales(enc)
    assert set(ours) == {n for n, _ in enc.named_parameters()}, "every parameter lands in a group"
    # timm's convention with 2 blocks: stem 0.5**2, block 0 0.5, block 1 and the final norm 1
    assert ours["adapters.depth.proj.weight"] == ours["global_tokens"] == ours["modality_embed.rgb"] == 0.25
    assert ours["blocks.0.attn.qkv.weight"] == 0.5 and ours["blocks.1.mlp.fc2.weight"] == 1.0
    ref = _scales(timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, patch_size=8, embed_dim=64,
                                    depth=2, num_heads=2))
    assert ref["cls_token"] == ref["patch_embed.proj.weight"] == ours["adapters.rgb.proj.weight"]
    assert {k: v for k, v in ours.items() if k.startswith(("blocks.", "norm."))} == \
        {k: v for k, v in ref.items() if k.startswith(("blocks.", "norm."))}
    assert timm.optim.create_optimizer_v2(enc, "adamw", lr=1e-3, layer_decay=0.5).param_groups[0]["lr_scale"] == 0.25


def test_pretrain_export_writes_the_timm_file_and_says_how_to_load_it(tmp_path):
    from tst.timm_export import TIMM_FILE

    enc = _trained_like("tst_vit_test", modalities=("rgb", "normal"))
    from tst.checkpoint import export_encoder

    export_encoder(tmp_path, enc, model_name="tst_vit_test",
                   extra={"timm": export_timm(tmp_path, enc, "tst_vit_test")})
    info = json.loads((tmp_path / "encoder.json").read_text())["timm"]
    assert info["file"] == TIMM_FILE and "pretrained_cfg_overlay" in info["load"]
    ref = timm.create_model(info["model"], **info["kwargs"])
    ref.load_state_dict(load_file(str(tmp_path / TIMM_FILE)), strict=True)
