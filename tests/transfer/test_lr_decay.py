"""Layer-wise lr decay groups and freezing, on a tiny timm ViT with a head on top."""

import pytest
import torch
from torch import nn

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.lr_decay import encoder_layer_id, freeze, param_groups


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.encoder = tiny_encoder()  # 2 blocks
        self.head = nn.Linear(48, 3)


def _lr_of(groups, name):
    (g,) = [g for g in groups if name in g["names"]]
    return g["lr"], g["weight_decay"]


def test_layer_ids():
    assert encoder_layer_id("patch_embed.proj.weight", 12) == 0
    assert encoder_layer_id("blocks.0.attn.qkv.weight", 12) == 1
    assert encoder_layer_id("blocks.11.mlp.fc2.bias", 12) == 12
    assert encoder_layer_id("norm.weight", 12) == 13


def test_decay_per_layer_and_no_weight_decay_for_1d_and_embeddings():
    m = _Model()
    groups = param_groups(m, m.backbone.encoder, lr=1.0, weight_decay=0.05, layer_decay=0.5)
    assert _lr_of(groups, "backbone.encoder.patch_embed.proj.weight") == (0.125, 0.05)  # 0.5 ** 3
    assert _lr_of(groups, "backbone.encoder.pos_embed") == (0.125, 0.0)
    assert _lr_of(groups, "backbone.encoder.blocks.0.attn.qkv.weight") == (0.25, 0.05)
    assert _lr_of(groups, "backbone.encoder.blocks.1.attn.qkv.weight") == (0.5, 0.05)
    assert _lr_of(groups, "backbone.encoder.blocks.1.norm1.weight") == (0.5, 0.0)
    assert _lr_of(groups, "head.weight") == (1.0, 0.05) and _lr_of(groups, "head.bias") == (1.0, 0.0)
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(m.parameters()))  # every parameter in exactly one group
    torch.optim.AdamW(groups)  # the groups are valid optimizer input


def test_frozen_encoder_is_left_out():
    m = _Model()
    freeze(m.backbone.encoder)
    groups = param_groups(m, m.backbone.encoder, lr=1e-3)
    names = [n for g in groups for n in g["names"]]
    assert sorted(names) == ["head.bias", "head.weight"]
    with pytest.raises(ValueError, match="layer_decay"):
        param_groups(m, m.backbone.encoder, lr=1e-3, layer_decay=0.0)
