"""The shared encoder: timm registration, patch/position maths, and forward_intermediates that
matches timm's VisionTransformer number for number when given the same weights."""

import pytest
import timm
import torch
from timm.models.vision_transformer import VisionTransformer

from tst.checkpoint import init_encoder
from tst.models.adapters import PatchAdapter, patchify, sincos_pos_embed_2d, unpatchify
from tst.models.vit import SIZES, MultiViT, create_encoder


def test_every_size_is_registered_with_timm_and_builds_its_dims():
    for name in SIZES:
        assert name in timm.list_models("tst_vit_*")
    enc = timm.create_model("tst_vit_small", modalities=("rgb", "depth"))
    assert isinstance(enc, MultiViT)
    assert (enc.embed_dim, len(enc.blocks), enc.patch_size) == (384, 12, 16)
    assert enc.blocks[0].attn.fused_attn, "the encoder must use fused scaled-dot-product attention"
    assert sorted(enc.adapters) == ["depth", "rgb"]


def test_unknown_model_and_pretrained_weights_fail_loudly():
    with pytest.raises(KeyError, match="tst_vit_tiny"):
        create_encoder("tst_vit_huge")
    with pytest.raises(ValueError, match="never downloads"):
        timm.create_model("tst_vit_test", pretrained=True)
    with pytest.raises(ValueError, match="cannot be an encoder input"):
        create_encoder("tst_vit_test", modalities=("rgb", "caption"))


def test_patchify_round_trip_and_adapter_equals_its_conv():
    x = torch.randn(2, 3, 16, 24)
    p = patchify(x, 8)
    assert p.shape == (2, 6, 192)
    assert torch.equal(unpatchify(p, 8, 3, 2, 3), x)
    ad = PatchAdapter(3, 8, 32)
    conv = ad.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]
    torch.testing.assert_close(ad(x), conv, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of the patch size 8"):
        patchify(torch.randn(1, 3, 20, 16), 8)


def test_sincos_position_embedding_values():
    pe = sincos_pos_embed_2d(8, 2, 3)  # [6, 8]: [sin x, cos x, sin y, cos y] with 2 frequencies each
    assert pe.shape == (6, 8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 0, 1, 1, 0, 0, 1, 1]))
    # token (row 1, col 2): x = 2, y = 1; first frequency is 1
    assert pe[5, 0].item() == pytest.approx(torch.sin(torch.tensor(2.0)).item(), abs=1e-6)
    assert pe[5, 4].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item(), abs=1e-6)


def test_forward_intermediates_matches_timm_vit_with_the_same_weights(tmp_path):
    torch.manual_seed(0)
    ref = VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=0)
    ours = create_encoder("tst_vit_test", modalities=("rgb",), img_size=32)
    # timm adds pos_embed to the class token too; ours adds fixed sin-cos + the rgb modality embedding
    with torch.no_grad():
        ours.modality_embed["rgb"].zero_()
        ref.pos_embed.zero_()
        ref.pos_embed[0, 1:] = sincos_pos_embed_2d(64, 4, 4)
    torch.save(ref.state_dict(), tmp_path / "vit.pth")
    report = init_encoder(ours, tmp_path / "vit.pth")
    assert report == {"missing": ["modality_embed.rgb"], "unexpected": ["pos_embed"], "mismatched": []}
    ref.eval(), ours.eval()
    x = torch.randn(2, 3, 32, 32)
    want = ref.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    got = ours.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    assert [g.shape for g in got] == [(2, 64, 4, 4)] * 2
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    final, feats = ours.forward_intermediates(x, indices=1, norm=True)
    torch.testing.assert_close(final, ref.forward_features(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(feats[0], ref.norm(want[1].flatten(2).transpose(1, 2)).transpose(1, 2).reshape(2, 64, 4, 4),
                               rtol=1e-4, atol=1e-4)
    nlc = ours.forward_intermediates(x, indices=1, output_fmt="NLC", intermediates_only=True)
    assert nlc[0].shape == (2, 16, 64)


def test_encoder_runs_at_other_sizes_and_multimodal_inputs():
    enc = create_encoder("tst_vit_test", modalities=("rgb", "depth"))
    feats = enc.forward_intermediates(torch.randn(1, 3, 48, 64), indices=1, intermediates_only=True)
    assert feats[0].shape == (1, 64, 6, 8)
    out = enc({"rgb": torch.randn(1, 3, 32, 32), "depth": torch.randn(1, 1, 32, 32)})
    assert out.shape == (1, 1 + 16 + 16, 64)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        enc(torch.randn(1, 3, 30, 32))


def test_embed_visible_equals_embedding_everything_then_gathering():
    from tst.pretrain.masking import DirichletMasker

    torch.manual_seed(0)
    enc = create_encoder("tst_vit_test", modalities=("rgb", "depth", "normal"))
    x = {"rgb": torch.randn(5, 3, 32, 32), "depth": torch.randn(5, 1, 32, 32), "normal": torch.randn(5, 3, 32, 32)}
    draw = DirichletMasker({m: 16 for m in x}, budget=12, alpha=0.3, seed=0)(5)
    assert (draw.counts == 0).any(), "include samples where a modality has no visible token"
    everything = torch.cat([enc.embed(m, x[m]) for m in enc.modalities], dim=1)  # [B, 48, D]
    want = everything.gather(1, draw.visible_idx.unsqueeze(-1).expand(-1, -1, 64))
    torch.testing.assert_close(enc.embed_visible(x, draw.visible, draw.visible_idx), want, rtol=1e-5, atol=1e-5)


def test_class_embedding_adapter_embeds_ids_then_projects_patches():
    from tst.models.adapters import ClassEmbedAdapter

    ad = ClassEmbedAdapter(num_classes=5, patch_size=8, embed_dim=32, class_dim=4)
    ids = torch.randint(0, 5, (2, 16, 16))
    want = ad.proj(ad.class_embed(ids).permute(0, 3, 1, 2)).flatten(2).transpose(1, 2)  # [B, N, D]
    torch.testing.assert_close(ad(ids), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="class id 7 is outside"):
        ad(torch.full((1, 16, 16), 7))
    with pytest.raises(ValueError, match="num_classes"):
        create_encoder("tst_vit_test", modalities=("rgb", "semseg"))
    enc = create_encoder("tst_vit_test", modalities=("rgb", "semseg"), num_classes={"semseg": 5})
    assert enc({"rgb": torch.randn(1, 3, 32, 32), "semseg": torch.randint(0, 5, (1, 32, 32))}).shape == (1, 33, 64)
    with pytest.raises(ValueError, match="cannot be an encoder input"):
        create_encoder("tst_vit_test", modalities=("rgb", "instance"))


def test_one_sincos_cache_serves_every_model_and_survives_inference_mode():
    from tst.models.adapters import _SINCOS, sincos_pos_embed, sincos_pos_embed_2d

    _SINCOS.pop((20, 3, 5, "cpu"), None)
    with torch.inference_mode():
        first = sincos_pos_embed(20, 3, 5, "cpu")  # as the perception plugin would build it
    assert not first.is_inference() and torch.equal(first[0], sincos_pos_embed_2d(20, 3, 5))
    assert sincos_pos_embed(20, 3, 5, torch.device("cpu")) is first  # one table per (dim, grid, device)
    w = torch.ones(1, 15, 20, requires_grad=True)
    (w * first).sum().backward()  # a training step can use it
    assert torch.equal(w.grad, first)
    enc = create_encoder("tst_vit_test", modalities=("rgb",))
    assert enc.pos_embed(3, 5, torch.device("cpu")) is sincos_pos_embed(enc.embed_dim, 3, 5, "cpu")
