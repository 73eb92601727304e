"""The encoder protocol: patch size lookup and mismatch errors, feature levels, padding for fixed-size ViTs."""

import pytest
import torch
from torch import nn

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.backbone import (
    check_patch_size,
    feature_levels,
    multilevel_features,
    pad_for_encoder,
    patch_size_of,
)


class _AnySizeEncoder(nn.Module):
    """A tst-MultiViT-like encoder: int patch_size, no fixed input size."""

    patch_size, embed_dim = 8, 4
    blocks = [None, None]


def test_patch_size_and_mismatch_error():
    assert patch_size_of(tiny_encoder(patch_size=8)) == 8  # timm stores (8, 8) in patch_embed
    assert patch_size_of(_AnySizeEncoder()) == 8
    with pytest.raises(ValueError, match="encoder patch size 16 does not match the patch size 8 that the head"):
        check_patch_size(tiny_encoder(patch_size=16), 8, "the head")
    with pytest.raises(TypeError, match="no patch_size"):
        patch_size_of(nn.Linear(2, 2))


def test_feature_levels():
    assert feature_levels(12, 4) == [2, 5, 8, 11]
    assert feature_levels(2, 4) == [0, 0, 1, 1]
    assert feature_levels(2, 1) == [1]


def test_padding_for_fixed_and_free_size_encoders():
    x = torch.ones(1, 3, 48, 56)
    assert pad_for_encoder(tiny_encoder(), x).shape == (1, 3, 64, 64)  # strict timm ViT: img_size 64
    assert pad_for_encoder(_AnySizeEncoder(), torch.ones(1, 3, 50, 64)).shape == (1, 3, 56, 64)
    padded = pad_for_encoder(tiny_encoder(), x)
    assert padded[..., :48, :56].eq(1).all() and padded[..., 48:, :].eq(0).all()
    with pytest.raises(ValueError, match="larger than the encoder's fixed input size 64"):
        pad_for_encoder(tiny_encoder(), torch.ones(1, 3, 96, 96))


def test_multilevel_features_repeats_levels():
    enc = tiny_encoder()
    feats = multilevel_features(enc, torch.rand(2, 3, 64, 64), [0, 0, 1, 1])
    assert [f.shape for f in feats] == [(2, 48, 8, 8)] * 4
    assert feats[0] is feats[1] and not torch.equal(feats[1], feats[2])
