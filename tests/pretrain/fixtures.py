"""Tiny split directories in the real shard format, and composed pretrain configs for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from tst.cli import config_dir
from tst.shards import ShardWriter, encode_sample


def _smooth(rng: np.random.Generator, h: int, w: int, c: int) -> np.ndarray:
    """Low-frequency random field [h, w, c] in [0, 1]: learnable, unlike white noise."""
    coarse = rng.uniform(0, 1, (4, 4, c))
    ys = np.linspace(0, 3, h)[:, None]
    xs = np.linspace(0, 3, w)[None, :]
    y0, x0 = np.floor(ys).astype(int).clip(0, 2), np.floor(xs).astype(int).clip(0, 2)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    a, b = coarse[y0, x0], coarse[y0, x0 + 1]
    cc, d = coarse[y0 + 1, x0], coarse[y0 + 1, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (cc * (1 - fx) + d * fx) * fy


def write_split(split_dir: Path, n: int = 8, size: int = 32, modalities=("rgb", "depth", "normal"),
                seed: int = 0, shard_size: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    with ShardWriter(split_dir, shard_size=shard_size) as w:
        for i in range(n):
            s = {}
            if "rgb" in modalities:
                s["rgb"] = (_smooth(rng, size, size, 3) * 255).astype(np.uint8)
            if "depth" in modalities:
                d = 0.5 + 4 * _smooth(rng, size, size, 1)[..., 0]
                d[:2, :2] = 0.0  # a few no-hit pixels
                s["depth"] = d.astype(np.float32)
            if "normal" in modalities:
                nrm = _smooth(rng, size, size, 3) * 2 - 1
                s["normal"] = (nrm / np.linalg.norm(nrm, axis=-1, keepdims=True).clip(1e-3)).astype(np.float32)
            if "edges" in modalities:
                s["edges"] = ((_smooth(rng, size, size, 1)[..., 0] > 0.5) * 255).astype(np.uint8)
            if "semseg" in modalities:  # 5 classes + unlabelled, in smooth blobs
                s["semseg"] = np.floor(_smooth(rng, size, size, 1)[..., 0] * 5.999).astype(np.uint16) + 1
                s["semseg"][-3:, -3:] = 0
            s["meta"] = {"scene_id": "test", "split": "pretrain"}
            w.write(f"{i:06d}", encode_sample(s))
    classes = ["unlabelled", "wall", "floor", "chair", "table", "lamp", "sofa"]
    (split_dir / "manifest.json").write_text(json.dumps({"modalities": list(modalities), "scene_id": "test",
                                                         "classes": classes}))
    return split_dir


TINY = ["model=tst_vit_test", "logger=none", "image_size=32", "augment=null", "steps=4", "batch_size=4",
        "warmup=1", "log_every=1", "preview_every=0", "ckpt_every=2", "objective.dec_dim=32",
        "objective.dec_depth=1", "objective.dec_heads=2", "device=cpu"]


def pretrain_cfg(data: Path, out: Path, *overrides: str):
    """The real primary config with the TINY settings; ``overrides`` win (``augment.scale=…`` drops
    TINY's ``augment=null``)."""
    keys = {o.split("=")[0] for o in overrides}
    tiny = [t for t in TINY if not any(k == t.split("=")[0] or k.startswith(t.split("=")[0] + ".") for k in keys)]
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="pretrain", overrides=[f"data={data}", f"out={out}", *tiny, *overrides])
