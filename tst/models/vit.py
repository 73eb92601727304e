"""The shared multimodal ViT encoder and its timm-registered sizes ``tst_vit_{test,tiny,small,base}``.

One encoder serves every stage: pretraining feeds it visible tokens of several modalities (rgb,
depth, normal, edges…), transfer heads feed it an rgb batch and read multi-level features through
``forward_intermediates`` (the same contract as timm's ``VisionTransformer``). The transformer
blocks are timm's ``Block``, whose attention uses fused ``scaled_dot_product_attention``.

    import tst.models.vit  # registers the names
    enc = timm.create_model("tst_vit_tiny", modalities=("rgb", "depth", "normal"), img_size=224)
"""

from __future__ import annotations

from functools import partial

import torch
from timm.layers import trunc_normal_
from timm.models import register_model
from timm.models._features import feature_take_indices
from timm.models.vision_transformer import Block
from torch import nn

from tst.modalities import get_modality
from tst.models.adapters import ClassEmbedAdapter, PatchAdapter, grid_size, patchify, sincos_pos_embed

# name -> constructor defaults; every size is built by the same class.
SIZES: dict[str, dict] = {
    "tst_vit_test": dict(patch_size=8, embed_dim=64, depth=2, num_heads=2, img_size=64),
    "tst_vit_cpu": dict(patch_size=8, embed_dim=192, depth=6, num_heads=3, img_size=64),
    "tst_vit_tiny": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3, img_size=224),
    "tst_vit_small": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, img_size=224),
    "tst_vit_base": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, img_size=224),
}


def _init_weights(m: nn.Module) -> None:
    """MAE initialisation: xavier-uniform linears, zero biases, unit LayerNorms."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class MultiViT(nn.Module):
    """Per-modality patch adapters + 2-D sin-cos positions + learned modality embeddings + global
    token(s) -> one shared stack of timm ``Block`` s -> LayerNorm.

    Token layout of every output: ``[global tokens (num_prefix_tokens), modality tokens…]``.
    """

    def __init__(self, modalities: tuple[str, ...] | list[str] = ("rgb",), img_size: int = 224,
                 patch_size: int = 16, embed_dim: int = 192, depth: int = 12, num_heads: int = 3,
                 mlp_ratio: float = 4.0, num_global_tokens: int = 1, drop_path_rate: float = 0.0,
                 num_classes: dict[str, int] | None = None) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.num_classes = {k: int(v) for k, v in (num_classes or {}).items()}
        if not self.modalities:
            raise ValueError("MultiViT needs at least one input modality")
        for m in self.modalities:
            kind = get_modality(m).kind
            if kind == "label" and get_modality(m).loss == "ce" and m not in self.num_classes:
                raise ValueError(f"label modality {m!r} needs its class count: num_classes={{{m!r}: C}}")
            if kind not in ("image", "label") or (kind == "label" and get_modality(m).loss != "ce"):
                raise ValueError(f"modality {m!r} cannot be an encoder input; use dense image modalities (rgb, "
                                 f"depth, normal, edges) or class maps (semseg)")
        self.model_kwargs = dict(modalities=list(self.modalities), img_size=img_size, patch_size=patch_size,
                                 embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                 num_global_tokens=num_global_tokens, drop_path_rate=drop_path_rate,
                                 num_classes=self.num_classes)
        self.img_size, self.patch_size, self.embed_dim = img_size, patch_size, embed_dim
        self.num_features = embed_dim
        self.num_prefix_tokens = num_global_tokens
        grid_size(img_size, img_size, patch_size)  # fail early on a size the patches cannot tile
        self.adapters = nn.ModuleDict({
            m: ClassEmbedAdapter(self.num_classes[m], patch_size, embed_dim) if get_modality(m).kind == "label"
            else PatchAdapter(get_modality(m).channels, patch_size, embed_dim) for m in self.modalities})
        self.modality_embed = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, 1, embed_dim))
                                                for m in self.modalities})
        self.global_tokens = nn.Parameter(torch.zeros(1, num_global_tokens, embed_dim))
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True, drop_path=dpr[i],
                                            norm_layer=norm) for i in range(depth)])
        self.norm = norm(embed_dim)
        self.apply(_init_weights)
        for p in [self.global_tokens, *self.modality_embed.values()]:
            trunc_normal_(p, std=0.02)

    # ----------------------------------------------------------------------------------- tokens
    def no_weight_decay(self) -> set[str]:
        return {"global_tokens"} | {f"modality_embed.{m}" for m in self.modalities}

    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for timm's optimizer helpers (``param_groups_layer_decay``,
        ``create_optimizer_v2(layer_decay=…)``): the embeddings are the stem, then one group per
        block, the final norm last, as timm's ``VisionTransformer`` groups them."""
        return dict(stem=r"^global_tokens|^modality_embed|^adapters",
                    blocks=r"^blocks\.(\d+)" if coarse else [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))])

    def pos_embed(self, grid_h: int, grid_w: int, device: torch.device) -> torch.Tensor:
        """[1, grid_h*grid_w, D] fixed sin-cos table (``tst.models.adapters.sincos_pos_embed``'s cache)."""
        return sincos_pos_embed(self.embed_dim, grid_h, grid_w, device)

    def embed(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] one modality -> [B, N, D] tokens with position and modality embeddings."""
        if modality not in self.adapters:
            raise KeyError(f"this encoder has no adapter for {modality!r}; it was built for {list(self.modalities)}")
        gh, gw = grid_size(x.shape[-2], x.shape[-1], self.patch_size)
        return self.adapters[modality](x) + self.pos_embed(gh, gw, x.device) + self.modality_embed[modality]

    def embed_visible(self, inputs: dict[str, torch.Tensor], visible: torch.Tensor,
                      visible_idx: torch.Tensor) -> torch.Tensor:
        """Embed only the tokens the encoder will see (what masked pretraining needs).

        inputs: {modality: [B, C, H, W]} in ``self.modalities`` order, concatenated token order;
        visible: [B, N_total] bool; visible_idx: [B, V] ascending indices of the True entries.
        Returns [B, V, D], equal to ``cat([embed(m, x) for m]).gather(1, visible_idx)`` but the
        patch projection runs on V tokens per sample instead of all of them.
        """
        first = inputs[self.modalities[0]]
        b, v = visible_idx.shape
        gh, gw = grid_size(first.shape[-2], first.shape[-1], self.patch_size)
        n = gh * gw
        pos = self.pos_embed(gh, gw, first.device)  # [1, n, D]
        table = torch.cat([pos + self.modality_embed[m] for m in self.modalities], dim=1)  # [1, N_total, D]
        out = table.expand(b, -1, -1).gather(1, visible_idx.unsqueeze(-1).expand(-1, -1, self.embed_dim))
        counts = visible.view(b, len(self.modalities), n).sum(2)  # [B, M]
        ends = counts.cumsum(1)  # [B, M]: slots of modality j are [ends[j-1], ends[j]) in visible_idx order
        slot = torch.arange(v, device=visible.device).unsqueeze(0)  # [1, V]
        embedded = None
        for j, m in enumerate(self.modalities):
            pixels = self.adapters[m].pixels(inputs[m])  # [B, C, H, W]
            patches = patchify(pixels, self.patch_size)[visible[:, j * n:(j + 1) * n]]  # [K_m, C*p*p]
            in_m = (slot >= ends[:, j:j + 1] - counts[:, j:j + 1]) & (slot < ends[:, j:j + 1])  # [B, V]
            tokens = self.adapters[m].embed_patches(patches)  # [K_m, D] (bf16 under autocast)
            if embedded is None:
                embedded = tokens.new_zeros(b, v, self.embed_dim)
            embedded = embedded.index_put(in_m.nonzero(as_tuple=True), tokens)
        return out + embedded  # [B, V, D]

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, L, D] embedded tokens -> [B, G+L, D] encoded (global tokens prepended)."""
        x = torch.cat([self.global_tokens.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return self.norm(self.blocks(x))

    def _input_tokens(self, x: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(x, dict):
            return torch.cat([self.embed(m, x[m]) for m in self.modalities if m in x], dim=1)  # [B, L, D]
        if "rgb" not in self.adapters:
            raise ValueError(f"a plain tensor input is read as rgb, but this encoder has {list(self.modalities)}; "
                             f"pass a dict {{modality: tensor}}")
        return self.embed("rgb", x)  # [B, N, D]

    def forward_features(self, x: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """rgb [B, 3, H, W] (ImageNet-normalised) or {modality: [B, C, H, W]} -> [B, G+L, D]."""
        return self.forward_tokens(self._input_tokens(x))

    def forward(self, x: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        return self.forward_features(x)

    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None,
                              return_prefix_tokens: bool = False, norm: bool = False, stop_early: bool = False,
                              output_fmt: str = "NCHW", intermediates_only: bool = False):
        """Multi-level features for dense heads, as timm's ``VisionTransformer.forward_intermediates``.

        x: rgb [B, 3, H, W], ImageNet-normalised (H, W multiples of ``patch_size``; any size works
        because positions are sin-cos). indices: last n blocks if int, all if None, else the block
        indices to take. Returns a list of [B, D, H/p, W/p] (``output_fmt="NCHW"``) or [B, N, D]
        (``"NLC"``) when ``intermediates_only``, else ``(final normed tokens [B, G+N, D], list)``.
        With ``return_prefix_tokens`` each entry is ``(features, global tokens [B, G, D])``.
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        take, max_index = feature_take_indices(len(self.blocks), indices)
        b, _, h, w = x.shape
        gh, gw = grid_size(h, w, self.patch_size)
        tokens = self._input_tokens(x)
        z = torch.cat([self.global_tokens.expand(b, -1, -1), tokens], dim=1)  # [B, G+N, D]
        blocks = self.blocks[: max_index + 1] if stop_early else self.blocks
        feats = []
        for i, blk in enumerate(blocks):
            z = blk(z)
            if i in take:
                feats.append(self.norm(z) if norm else z)
        g = self.num_prefix_tokens
        prefix = [f[:, :g] for f in feats]  # [B, G, D]
        feats = [f[:, g:] for f in feats]  # [B, N, D]
        if output_fmt == "NCHW":
            feats = [f.reshape(b, gh, gw, -1).permute(0, 3, 1, 2).contiguous() for f in feats]  # [B, D, gh, gw]
        if return_prefix_tokens:
            feats = list(zip(feats, prefix))
        if intermediates_only:
            return feats
        return self.norm(z), feats


def _create(name: str, pretrained: bool, **kwargs) -> MultiViT:
    if pretrained:
        raise ValueError(f"{name} has no downloadable weights (tst never downloads); initialise from a file "
                         f"with tst.checkpoint.init_encoder(model, path)")
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(k, None)
    return MultiViT(**{**SIZES[name], **kwargs})


@register_model
def tst_vit_test(pretrained: bool = False, **kwargs) -> MultiViT:
    """Tiny test size: patch 8, width 64, 2 blocks (for 32-64 px tests)."""
    return _create("tst_vit_test", pretrained, **kwargs)


@register_model
def tst_vit_cpu(pretrained: bool = False, **kwargs) -> MultiViT:
    """CPU recipe size: patch 8, width 192, 6 blocks, 3 heads (64-96 px; the demo's and sweeps' model)."""
    return _create("tst_vit_cpu", pretrained, **kwargs)


@register_model
def tst_vit_tiny(pretrained: bool = False, **kwargs) -> MultiViT:
    """ViT-Tiny: patch 16, width 192, 12 blocks, 3 heads."""
    return _create("tst_vit_tiny", pretrained, **kwargs)


@register_model
def tst_vit_small(pretrained: bool = False, **kwargs) -> MultiViT:
    """ViT-Small: patch 16, width 384, 12 blocks, 6 heads."""
    return _create("tst_vit_small", pretrained, **kwargs)


@register_model
def tst_vit_base(pretrained: bool = False, **kwargs) -> MultiViT:
    """ViT-Base: patch 16, width 768, 12 blocks, 12 heads."""
    return _create("tst_vit_base", pretrained, **kwargs)


def create_encoder(name: str, **kwargs) -> MultiViT:
    """``timm.create_model`` for our names, failing with the valid names for an unknown one."""
    import timm

    if name not in SIZES:
        raise KeyError(f"unknown model {name!r}; valid models: {sorted(SIZES)}")
    return timm.create_model(name, **kwargs)
