"""The encoder export as a stock timm ``VisionTransformer`` checkpoint (``timm.safetensors``).

``encoder.safetensors`` holds our keys (adapters, modality embeddings, sin-cos positions computed at
run time), which a stock timm ViT cannot read: timm would keep its random patch embedding, class
token and position table. This file holds the rgb path of the encoder in timm's own names, so it
loads **strictly** into ``timm.create_model(<stock name>, num_classes=0, **kwargs)``:

- ``adapters.rgb.proj`` -> ``patch_embed.proj`` (both Conv2d [D, 3, p, p]);
- ``global_tokens`` -> ``cls_token`` (and ``reg_token`` for more than one global token);
- sin-cos table + rgb modality embedding -> ``pos_embed`` [1, G + N, D], zero rows for the global
  tokens (ours get no position), at the encoder's ``img_size``;
- ``blocks.*`` and ``norm.*`` unchanged (the same timm ``Block`` and eps-1e-6 LayerNorm).

The other modalities' adapters and embeddings have no place in a single-input ViT and are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from tst.atomic import atomic_path
from tst.models.adapters import grid_size, sincos_pos_embed_2d
from tst.models.vit import SIZES, MultiViT

TIMM_FILE = "timm.safetensors"
# our size -> the stock timm name of the same width/depth/heads; other sizes use the nearest name + kwargs
STOCK = {"tst_vit_tiny": "vit_tiny_patch16_224", "tst_vit_small": "vit_small_patch16_224",
         "tst_vit_base": "vit_base_patch16_224"}
_DIMS = ("img_size", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio")


def timm_spec(encoder: MultiViT, model_name: str) -> tuple[str, dict[str, Any]]:
    """(stock timm name, the kwargs ``timm.create_model`` needs besides it) for this encoder."""
    stock_size = model_name if model_name in STOCK else "tst_vit_tiny"
    stock = {"mlp_ratio": 4.0, **SIZES[stock_size]}
    ours = {k: encoder.model_kwargs[k] for k in _DIMS}
    kwargs: dict[str, Any] = {"num_classes": 0}
    kwargs.update({k: v for k, v in ours.items() if v != stock[k]})
    if encoder.num_prefix_tokens > 1:
        kwargs["reg_tokens"] = encoder.num_prefix_tokens - 1
    return STOCK[stock_size], kwargs


def to_timm_state_dict(encoder: MultiViT) -> dict[str, torch.Tensor]:
    """Our encoder's rgb path in timm ``VisionTransformer`` keys (see the module docstring)."""
    if "rgb" not in encoder.adapters:
        raise ValueError(f"a timm ViT takes rgb, but this encoder has only {list(encoder.modalities)}")
    sd = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    g = encoder.num_prefix_tokens
    gh, gw = grid_size(encoder.img_size, encoder.img_size, encoder.patch_size)
    patches = sincos_pos_embed_2d(encoder.embed_dim, gh, gw) + sd["modality_embed.rgb"][0]  # [N, D]
    out = {
        "patch_embed.proj.weight": sd["adapters.rgb.proj.weight"],  # [D, 3, p, p]
        "patch_embed.proj.bias": sd["adapters.rgb.proj.bias"],
        "cls_token": sd["global_tokens"][:, :1],  # [1, 1, D]
        "pos_embed": torch.cat([patches.new_zeros(g, encoder.embed_dim), patches]).unsqueeze(0),  # [1, G+N, D]
    }
    if g > 1:
        out["reg_token"] = sd["global_tokens"][:, 1:]  # [1, G-1, D]
    out.update({k: v for k, v in sd.items() if k.startswith(("blocks.", "norm."))})
    return {k: v.contiguous() for k, v in out.items()}


def export_timm(directory: str | Path, encoder: MultiViT, model_name: str) -> dict[str, Any] | None:
    """Write ``<directory>/timm.safetensors``; returns what ``encoder.json`` records about it
    (file, stock timm name, kwargs, and the call that loads it), or None for an encoder without
    an rgb adapter (a stock ViT has nothing to take from it)."""
    if "rgb" not in encoder.adapters:
        return None
    name, kwargs = timm_spec(encoder, model_name)
    path = Path(directory) / TIMM_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(to_timm_state_dict(encoder), str(tmp),
                  metadata={"format": "timm-vit", "timm_model": name, "source_model": model_name})
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return {"file": TIMM_FILE, "model": name, "kwargs": kwargs,
            "load": f"timm.create_model({name!r}, pretrained=True, pretrained_cfg_overlay=dict(file=<export>/"
                    f"{TIMM_FILE}, num_classes=0), {args})"}
