"""The optimizer's weight-decay groups (pretrain/optim.py) and the deterministic data order (``tst.loader``)."""

import torch

from tst.loader import sample_index
from tst.models.vit import create_encoder
from tst.pretrain.objective import MultiMAE
from tst.pretrain.optim import param_groups


def test_weight_decay_skips_biases_norms_tokens_and_embeddings():
    model = MultiMAE(create_encoder("tst_vit_test", modalities=("rgb", "depth")), 32, 1, 2)
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    nd = {names[id(p)] for p in no_decay["params"]}
    d = {names[id(p)] for p in decay["params"]}
    assert {"encoder.global_tokens", "encoder.modality_embed.rgb", "decoders.depth.mask_token",
            "decoders.rgb.query_embed", "encoder.norm.weight", "encoder.blocks.0.attn.qkv.bias"} <= nd
    assert {"encoder.blocks.0.attn.qkv.weight", "encoder.adapters.depth.proj.weight",
            "decoders.rgb.head.weight"} <= d
    assert len(d) + len(nd) == len(list(model.parameters()))
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0


def test_data_order_visits_every_sample_once_per_epoch_and_reshuffles():
    first = [sample_index(p, 10, seed=0) for p in range(10)]
    second = [sample_index(p, 10, seed=0) for p in range(10, 20)]
    assert sorted(i for i, _ in first) == list(range(10)) and {e for _, e in first} == {0}
    assert sorted(i for i, _ in second) == list(range(10)) and {e for _, e in second} == {1}
    assert [i for i, _ in first] != [i for i, _ in second]
    assert sample_index(13, 10, seed=0) == second[3]  # pure in the position: what resume relies on
    assert torch.tensor([i for i, _ in first]).tolist() != [sample_index(p, 10, 1)[0] for p in range(10)]
