"""Pseudo-labellers: existing networks run over stored RGB to make extra ("pseudo") modalities.

The paper adds modalities beyond the sensors — features of CLIP-like encoders, segmenter masks —
produced by networks that already exist. A ``Labeller`` maps a batch of uint8 RGB [B, H, W, 3] to a
pixel-aligned array [B, H, W, C]; ``tst collect augment`` stores it as ``K.<name>.png`` (uint8 or
uint16) or ``K.<name>.npy`` (float32). Dense features are too wide to store per pixel, so they are
reduced to ``channels`` by a PCA fitted on the split itself and stored (with the uint8 scaling) in
the manifest, so anyone can map stored values back to the feature subspace.

Weights are NEVER downloaded: timm models are built with ``pretrained=False`` and optionally load a
local checkpoint file; exported modules are TorchScript files on disk; ``HeadLabeller`` runs our own
transferred segmentation head (a ``tst transfer`` run directory), which makes a second
specialisation round possible: pretrain again with the first round's predictions as a modality.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MAX_FIT_VECTORS = 200_000  # feature vectors used to fit the PCA (random pixels over the fit images)


class Labeller(ABC):
    """RGB batch -> pixel-aligned pseudo modality. ``fit`` (optional) sees the split's RGB first."""

    name: str = "labeller"

    @abstractmethod
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 [B, H, W, 3] -> [B, H, W, C] (uint8 / uint16 stored as PNG, float32 as .npy)."""

    def fit(self, batches: Iterable[np.ndarray]) -> None:
        """Fit split-dependent state (e.g. a PCA) on uint8 RGB batches [B, H, W, 3]; default: nothing."""
        return None

    def state(self) -> dict:
        """What the manifest records about this labeller (model, checkpoint, PCA…)."""
        return {"name": self.name, "class": type(self).__name__}


def _check_name(name: str) -> str:
    if not name or "." in name or "/" in name or name.startswith("_"):
        raise ValueError(f"labeller name {name!r} must be a non-empty member name without '.', '/' or a "
                         f"leading '_' (it becomes the shard member K.<name>.png)")
    return name


class PCAReducer:
    """Project D-dim feature vectors onto the top ``channels`` principal directions, scaled to uint8."""

    def __init__(self, channels: int) -> None:
        self.channels = int(channels)
        self.mean: np.ndarray | None = None  # [D]
        self.components: np.ndarray | None = None  # [D, channels]
        self.lo: np.ndarray | None = None  # [channels] 1st percentile of the projections
        self.hi: np.ndarray | None = None  # [channels] 99th percentile

    def fit(self, x: np.ndarray) -> None:
        """x: [N, D] float feature vectors."""
        x = x.astype(np.float64)
        if x.shape[1] < self.channels:
            raise ValueError(f"cannot reduce {x.shape[1]}-channel features to {self.channels} channels")
        self.mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        comp = vt[: self.channels].T  # [D, channels]
        comp *= np.sign(comp[np.abs(comp).argmax(0), np.arange(self.channels)])  # fixed sign per component
        self.components = comp
        proj = (x - self.mean) @ comp  # [N, channels]
        self.lo, self.hi = np.percentile(proj, 1, axis=0), np.percentile(proj, 99, axis=0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """[..., D] -> [..., channels] uint8."""
        if self.components is None:
            raise RuntimeError("PCAReducer.fit must run before projecting (tst collect augment fits it on the split)")
        proj = (x.astype(np.float64) - self.mean) @ self.components
        scaled = (proj - self.lo) / np.maximum(self.hi - self.lo, 1e-12)
        return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)

    def state(self) -> dict:
        return {"channels": self.channels, "mean": self.mean.tolist(), "components": self.components.tolist(),
                "lo": self.lo.tolist(), "hi": self.hi.tolist()}


class DenseLabeller(Labeller):
    """A network giving dense features [B, D, h, w]; PCA-reduced to ``channels`` (uint8) when set."""

    def __init__(self, name: str, channels: int | None, batch_size: int = 8, seed: int = 0) -> None:
        self.name = _check_name(name)
        self.pca = PCAReducer(channels) if channels else None
        self.batch_size = int(batch_size)
        self.seed = int(seed)

    @abstractmethod
    def features(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 [B, H, W, 3] -> float [B, D, h, w] (or integer [B, 1, h, w] labels)."""

    @torch.no_grad()
    def _features(self, rgb: np.ndarray) -> torch.Tensor:
        return torch.cat([self.features(rgb[i:i + self.batch_size]) for i in range(0, len(rgb), self.batch_size)])

    def fit(self, batches: Iterable[np.ndarray]) -> None:
        if self.pca is None:
            return
        rng = np.random.default_rng(self.seed)
        feats = []
        for b in batches:
            f = self._features(b)  # [B, D, h, w]
            if not torch.is_floating_point(f):
                raise ValueError(f"labeller {self.name!r} gives integer labels; a PCA (channels=) needs float features")
            feats.append(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).numpy())
        if not feats:
            raise ValueError(f"labeller {self.name!r}: no images to fit the PCA on")
        x = np.concatenate(feats)  # [N, D]
        if len(x) > MAX_FIT_VECTORS:
            x = x[np.sort(rng.choice(len(x), MAX_FIT_VECTORS, replace=False))]
        self.pca.fit(x)

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[1:3]
        f = self._features(rgb)  # [B, D, h', w']
        if not torch.is_floating_point(f):  # integer label maps: nearest resize, uint16
            f = F.interpolate(f.float(), size=(h, w), mode="nearest")
            return f.permute(0, 2, 3, 1).numpy().astype(np.uint16)  # [B, H, W, C]
        if self.pca is not None:  # project at feature resolution, then upsample only `channels` maps
            low = self.pca(f.permute(0, 2, 3, 1).numpy())  # [B, h', w', c] uint8
            t = torch.from_numpy(low.astype(np.float32)).permute(0, 3, 1, 2)
            up = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
            return np.clip(np.rint(up.permute(0, 2, 3, 1).numpy()), 0, 255).astype(np.uint8)
        up = F.interpolate(f.float(), size=(h, w), mode="bilinear", align_corners=False)
        return up.permute(0, 2, 3, 1).numpy().astype(np.float32)

    def state(self) -> dict:
        return {**super().state(), "pca": self.pca.state() if self.pca is not None else None}


class TimmFeatureLabeller(DenseLabeller):
    """Dense features of any timm model (``forward_features``), random init or a LOCAL checkpoint."""

    def __init__(self, model_name: str, checkpoint: str | None = None, channels: int = 3, name: str = "features",
                 batch_size: int = 8, seed: int = 0) -> None:
        import timm
        from timm.data import resolve_data_config

        super().__init__(name, channels, batch_size, seed)
        if model_name not in timm.list_models():
            close = timm.list_models(f"*{model_name.split('_')[0]}*")[:10]
            raise KeyError(f"labeller model_name={model_name!r} is not a timm model; similar: {close}")
        torch.manual_seed(self.seed)  # random init is reproducible
        self.model = timm.create_model(model_name, pretrained=False).eval()
        self.model_name, self.checkpoint = model_name, checkpoint
        if checkpoint is not None:
            self._load(Path(checkpoint))
        cfg = resolve_data_config({}, model=self.model)
        self.input_size = tuple(cfg["input_size"][1:])  # (H, W)
        self.mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"labeller.checkpoint={path} does not exist; give a local weights file "
                                    f"(.safetensors, .pt, .pth) or checkpoint=null for random init (weights "
                                    f"are never downloaded)")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
            sd = sd.get("state_dict", sd.get("model", sd)) if isinstance(sd, dict) else sd
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ValueError(f"labeller.checkpoint={path} does not fit timm model {self.model_name!r}: "
                             f"missing {list(missing)[:8]}, unexpected {list(unexpected)[:8]}")

    def features(self, rgb: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 255.0  # [B, 3, H, W]
        x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        f = self.model.forward_features((x - self.mean) / self.std)
        if f.ndim == 3:  # ViT tokens [B, prefix + h*w, D] -> [B, D, h, w]
            tokens = f[:, getattr(self.model, "num_prefix_tokens", 0):]
            side = int(round(tokens.shape[1] ** 0.5))
            if side * side != tokens.shape[1]:
                raise ValueError(f"timm model {self.model_name!r} gives {tokens.shape[1]} patch tokens, not a "
                                 f"square grid; use a model with a square patch grid")
            f = tokens.transpose(1, 2).reshape(f.shape[0], -1, side, side)
        if f.ndim != 4:
            raise ValueError(f"timm model {self.model_name!r} gives features of shape {tuple(f.shape)}; a labeller "
                             f"needs dense [B, D, h, w] maps or ViT patch tokens")
        return f

    def state(self) -> dict:
        return {**super().state(), "model_name": self.model_name, "checkpoint": self.checkpoint,
                "input_size": list(self.input_size)}


class TorchScriptLabeller(DenseLabeller):
    """An exported module mapping float RGB [B, 3, H, W] in [0, 1] to [B, C, h, w] (or [B, h, w]).

    ``path`` is a TorchScript file (``torch.jit.save``) or a ``torch.export`` program (``.pt2``,
    ``torch.export.save``; export it with a dynamic batch dimension, or use batch_size it was traced with).

    The module does its own normalisation. Float outputs are stored as float32 .npy, or reduced to
    ``channels`` uint8 by PCA when ``channels`` is set; integer outputs (label maps) as uint16 PNG.
    """

    def __init__(self, path: str, name: str = "pseudo", channels: int | None = None, batch_size: int = 8,
                 seed: int = 0) -> None:
        super().__init__(name, channels, batch_size, seed)
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"labeller.path={p} does not exist; export a module with "
                                    f"torch.jit.save(torch.jit.script(model), path) or torch.export.save(…, 'x.pt2')")
        self.path = str(p)
        if p.suffix == ".pt2":
            self.module = torch.export.load(str(p)).module()
        else:
            self.module = torch.jit.load(str(p), map_location="cpu").eval()

    def features(self, rgb: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float() / 255.0
        out = self.module(x)
        if out.ndim == 3:
            out = out[:, None]
        if out.ndim != 4 or out.shape[0] != len(rgb):
            raise ValueError(f"TorchScript labeller {self.path} returned shape {tuple(out.shape)}; expected "
                             f"[B, C, h, w] or [B, h, w] for a batch of {len(rgb)}")
        return out

    def state(self) -> dict:
        return {**super().state(), "path": self.path}


class HeadLabeller(Labeller):
    """A transferred semantic-segmentation head (``tst transfer task=semseg`` run dir) as a labeller:
    its predicted class ids become a uint16 member; the manifest records the head's vocabulary."""

    def __init__(self, run: str, name: str = "pred_semseg", device: str = "cpu", batch_size: int = 8) -> None:
        from tst import Perception  # the public plugin contract; a stage never imports another stage

        self.name = _check_name(name)
        self.run, self.batch_size = str(run), int(batch_size)
        self.perception = Perception.from_run(self.run, device=device)
        if "semseg" not in self.perception.tasks:
            raise ValueError(f"labeller=head needs a semseg head; {self.run} holds {self.perception.tasks}")

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = self.perception({"rgb": np.ascontiguousarray(rgb)})  # a [B, H, W, 3] batch -> B results
        return np.stack([o["semseg"] for o in out])[..., None].astype(np.uint16)  # [B, H, W, 1]

    def state(self) -> dict:
        classes = {str(k): v for k, v in self.perception.classes("semseg").items()}
        return {**super().state(), "run": self.run, "classes": classes}
