"""The MultiMAE objective: gradients reach every parameter, losses see masked tokens only, targets
are normalised as documented, and per-sample means make split batches add up (DDP equivalence)."""

import math

import pytest
import torch

from tst.models.adapters import patchify
from tst.models.vit import create_encoder
from tst.pretrain.losses import patch_targets, robust_standardise_depth
from tst.pretrain.masking import DirichletMasker
from tst.pretrain.objective import MultiMAE, check_objective

MODS = ("rgb", "depth", "normal")


def _setup(seed=0, b=4, mods=MODS):
    torch.manual_seed(seed)
    model = MultiMAE(create_encoder("tst_vit_test", modalities=mods), 32, 1, 2)
    batch = {"rgb": torch.rand(b, 3, 32, 32), "depth": 0.5 + 3 * torch.rand(b, 1, 32, 32),
             "normal": torch.rand(b, 3, 32, 32) * 2 - 1}
    batch = {m: batch[m] for m in mods}
    masks = DirichletMasker(model.tokens_per_modality(32, 32), 12, 1.0, seed=seed)(b)
    return model, batch, masks


def test_every_parameter_gets_a_gradient():
    model, batch, masks = _setup()
    out = model(batch, masks)
    assert set(out) == {"rgb", "depth", "normal", "loss"}
    torch.testing.assert_close(out["loss"], out["rgb"] + out["depth"] + out["normal"])
    out["loss"].backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def _patch(img, r, c):
    return img[:, :, r * 8:(r + 1) * 8, c * 8:(c + 1) * 8]


def test_losses_depend_on_masked_patches_only():
    model, batch, masks = _setup()
    model.eval()
    base = {k: v.item() for k, v in model(batch, masks).items()}
    i = int((masks.counts[:, 0] > 0).nonzero()[0])  # a sample with visible and masked rgb patches
    vis_rgb = masks.visible[i, :16].view(4, 4)
    # a masked rgb patch is a target of the rgb loss and an input of nothing
    r, c = [int(v) for v in (~vis_rgb).nonzero()[0]]
    changed = {k: v.clone() for k, v in batch.items()}
    _patch(changed["rgb"][i:i + 1], r, c).copy_(torch.rand(1, 3, 8, 8))
    after = {k: v.item() for k, v in model(changed, masks).items()}
    assert after["rgb"] != pytest.approx(base["rgb"], abs=1e-6)
    assert after["depth"] == pytest.approx(base["depth"], abs=1e-6)
    assert after["normal"] == pytest.approx(base["normal"], abs=1e-6)
    # a visible rgb patch is an encoder input, so every decoder's prediction moves
    r, c = [int(v) for v in vis_rgb.nonzero()[0]]
    changed = {k: v.clone() for k, v in batch.items()}
    _patch(changed["rgb"][i:i + 1], r, c).copy_(torch.rand(1, 3, 8, 8))
    after = {k: v.item() for k, v in model(changed, masks).items()}
    assert after["depth"] != pytest.approx(base["depth"], abs=1e-6)


def test_rgb_targets_are_patch_normalised_and_depth_standardisation_is_scale_free():
    img = torch.rand(2, 3, 16, 16)
    t, w = patch_targets("rgb", img, None, 8)
    assert w is None
    torch.testing.assert_close(t.mean(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(t.std(-1), torch.ones(2, 4), atol=1e-3, rtol=0)
    depth = 1 + 4 * torch.rand(2, 1, 16, 16)
    depth[0, 0, :4, :4] = 0  # no hit
    depth[1, 0, 0, 0] = 500.0  # one far outlier must not dominate the statistics
    valid = depth > 0
    z = robust_standardise_depth(depth, valid)
    assert torch.all(z[0, 0, :4, :4] == 0)
    torch.testing.assert_close(robust_standardise_depth(depth * 3, valid), z, rtol=1e-4, atol=1e-4)
    assert z[1][valid[1]].median().abs() < 0.5 and z[1, 0, 0, 0] > 100
    _, w = patch_targets("depth", z, valid, 8)
    assert w[0, 0].sum() == 64 - 16, "no-hit pixels carry no loss"
    assert torch.equal(patchify(z, 8), patch_targets("depth", z, valid, 8)[0])


def test_per_sample_means_make_a_split_batch_equal_the_whole():
    model, batch, masks = _setup(b=4)
    whole = model(batch, masks)
    halves = [model({m: v[i:i + 2] for m, v in batch.items()}, masks.slice(i, i + 2)) for i in (0, 2)]
    for k in whole:
        torch.testing.assert_close(whole[k], (halves[0][k] + halves[1][k]) / 2, rtol=1e-5, atol=1e-6)


def test_loss_weights_and_objective_checks():
    torch.manual_seed(0)
    model = MultiMAE(create_encoder("tst_vit_test", modalities=("rgb", "depth")), 32, 1, 2, {"depth": 0.0})
    _, batch, masks = _setup(mods=("rgb", "depth"))
    out = model(batch, masks)
    torch.testing.assert_close(out["loss"], out["rgb"])
    with pytest.raises(ValueError, match="not trained"):
        MultiMAE(create_encoder("tst_vit_test", modalities=("rgb",)), 32, 1, 2, {"depth": 1.0})
    with pytest.raises(ValueError, match="objective=mae reconstructs rgb"):
        check_objective("mae", ["rgb", "depth"])
    with pytest.raises(ValueError, match="multimae|mae"):
        check_objective("simclr", ["rgb"])


def test_reconstruct_returns_images_with_visible_patches_pasted():
    model, batch, masks = _setup()
    rec = model.reconstruct(batch, masks)
    assert rec["rgb"]["pred"].shape == (4, 3, 32, 32) and rec["depth"]["target"].shape == (4, 1, 32, 32)
    torch.testing.assert_close(rec["rgb"]["target"], batch["rgb"])  # rgb is shown in pixels
    i = int((masks.counts[:, 0] > 0).nonzero()[0])
    r, c = [int(v) for v in masks.visible[i, :16].view(4, 4).nonzero()[0]]
    torch.testing.assert_close(_patch(rec["rgb"]["pred"][i:i + 1], r, c), _patch(batch["rgb"][i:i + 1], r, c),
                               rtol=1e-4, atol=1e-4)


def test_decoder_predicting_masked_tokens_only_equals_predicting_all_then_selecting():
    model, batch, masks = _setup()
    prepared, encoded = model._encode(batch, masks)
    dec = model.decoders["normal"]
    args = (encoded, masks.visible_idx, masks.visible, (32, 48), (4, 4), 1)
    masked = ~masks.visible[:, 32:48]
    torch.testing.assert_close(dec(*args, predict=masked), dec(*args)[masked], rtol=1e-5, atol=1e-6)


def test_bf16_autocast_runs_forward_and_backward():
    """The CUDA path trains under bf16 autocast; mixed dtypes must not break the token plumbing.
    (Checked with CPU autocast on the tiny model: the loop itself never uses bf16 on CPU.)"""
    model, batch, masks = _setup(b=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch, masks)
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert model.encoder.adapters["depth"].proj.weight.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rec = model.reconstruct(batch, masks)
    assert torch.isfinite(rec["normal"]["pred"]).all()


def test_semseg_cross_entropy_ignores_unlabelled_pixels_and_matches_by_hand():
    from tst.pretrain.losses import masked_loss

    logits = torch.randn(3, 4 * 5)  # 3 masked tokens, 2x2-pixel patches, 5 classes (pixel-major)
    target = torch.tensor([[1, 2, 0, 4], [0, 0, 0, 0], [3, 3, 3, 1]])
    weight = (target != 0).float()
    got = masked_loss("semseg", logits, target, weight, torch.tensor([0, 0, 1]), batch=2)
    ce = torch.nn.functional.cross_entropy(logits.view(12, 5), target.view(12), reduction="none").view(3, 4)
    tok = [ce[0, [0, 1, 3]].mean(), torch.tensor(0.0), ce[2].mean()]  # token 1 has no labelled pixel
    torch.testing.assert_close(got, ((tok[0] + tok[1]) / 2 + tok[2]) / 2)


def test_semseg_as_a_pretraining_modality():
    torch.manual_seed(0)
    enc = create_encoder("tst_vit_test", modalities=("rgb", "semseg"), num_classes={"semseg": 6})
    model = MultiMAE(enc, 32, 1, 2)
    batch = {"rgb": torch.rand(2, 3, 32, 32), "semseg": torch.randint(0, 6, (2, 32, 32))}
    masks = DirichletMasker(model.tokens_per_modality(32, 32), 12, 1.0, seed=0)(2)
    out = model(batch, masks)
    assert abs(out["semseg"].item() - math.log(6)) < 0.5, "an untrained decoder is near chance"
    out["loss"].backward()
    assert model.encoder.adapters["semseg"].class_embed.weight.grad.abs().sum() > 0
    rec = model.reconstruct(batch, masks)["semseg"]
    assert rec["pred"].shape == (2, 1, 32, 32) and set(rec["pred"].unique().tolist()) <= set(range(6))
