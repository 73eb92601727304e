"""Checkpoints that describe themselves, and the encoder export other stages load by path.

A training checkpoint (``ckpt.pt``) carries everything a resumed run needs to continue the same
loss curve: model, optimizer, schedule, RNG states, data position and step, plus what made it
(format version, model name, modalities, resolved config, git hash). It is written atomically, so
a kill during the write leaves the previous checkpoint intact.

An encoder export is two files side by side: ``encoder.safetensors`` (weights only, no pickle)
and ``encoder.json`` (model name, constructor arguments, modalities, step, git hash).
``load_encoder(path)`` rebuilds the encoder from them; transfer heads read it through
``forward_intermediates`` (see ``tst.models.vit.MultiViT``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from tst.atomic import atomic_path, write_json
from tst.models.vit import MultiViT, create_encoder
from tst.provenance import git_hash

FORMAT_VERSION = 1
EXPORT_FORMAT = "tst-encoder"


class CheckpointError(RuntimeError):
    """A checkpoint or export cannot be used; the message names the file and what to do."""


_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the wrappers' leading prefixes (``torch.compile``'s ``_orig_mod.``, DDP's ``module.``,
    nested in any order); a ``module.`` inside a key (``blocks.0.submodule.w``) is a real name and stays."""
    out = {}
    for k, v in state.items():
        while k.startswith(_WRAPPER_PREFIXES):
            k = k.removeprefix("_orig_mod.").removeprefix("module.")
        out[k] = v
    return out


def non_finite_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding NaN or inf."""
    return [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


def _refuse_non_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    bad = non_finite_keys(state)
    if bad:
        raise CheckpointError(f"refusing to write {path}: {len(bad)} tensor(s) hold non-finite values "
                              f"({', '.join(bad[:5])}{', …' if len(bad) > 5 else ''}); training diverged. "
                              f"Lower lr (or check the data) and restart from the last good checkpoint")


def _write_error(what: str, path: Path, e: BaseException) -> CheckpointError:
    """A failed write (full disk, lost permission) as one sentence naming the file and the fix."""
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[0]
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free there"
    except OSError:
        free = "free space unknown"
    return CheckpointError(f"cannot write the {what} {path} ({reason}; {free}): the disk is probably full or not "
                           f"writable. Any previous {path.name} is intact; free space or choose another out=<dir>, "
                           f"then rerun with resume=true")


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and ``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(path: str | Path, *, model: nn.Module, model_name: str, modalities: list[str], step: int,
                    config: dict, optimizer: torch.optim.Optimizer | None = None, schedule: dict | None = None,
                    rng: dict | None = None, data_position: int = 0, extra: dict | None = None) -> Path:
    """Write a training checkpoint atomically; ``model`` may be wrapped (saved keys are clean)."""
    path = Path(path)
    weights = clean_state_dict(unwrap(model).state_dict())
    _refuse_non_finite(weights, path)
    state = {
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "modalities": list(modalities),
        "step": int(step),
        "data_position": int(data_position),
        "model": weights,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "schedule": schedule,
        "rng": rng,
        "config": config,
        "git": git_hash(),
        **(extra or {}),
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except (OSError, RuntimeError) as e:  # a full disk reaches torch.save as "inline_container.cc … unexpected pos"
        raise _write_error("checkpoint", path, e) from e
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint, failing with the file name on anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:  # weights_only: a checkpoint is plain data; unpickling arbitrary objects would run their code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} cannot be read with weights_only=True "
                              f"({str(e).strip().splitlines()[0]}); it may be truncated, from another program, or "
                              f"hold pickled objects tst does not load") from e
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        got = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {path} has format_version {got!r}; this tst reads {FORMAT_VERSION}")
    return state


# ------------------------------------------------------------------------------------- export
def _export_paths(path: str | Path) -> tuple[Path, Path]:
    """A directory, ``X.safetensors`` or ``X.json`` -> (weights file, info file)."""
    p = Path(path)
    if p.is_dir() or not p.suffix:
        return p / "encoder.safetensors", p / "encoder.json"
    return p.with_suffix(".safetensors"), p.with_suffix(".json")


def export_encoder(path: str | Path, encoder: nn.Module, *, model_name: str, step: int | None = None,
                   extra: dict | None = None) -> Path:
    """Write ``encoder.safetensors`` + ``encoder.json`` (into ``path`` if it is a directory)."""
    enc = unwrap(encoder)
    if not isinstance(enc, MultiViT):
        raise TypeError(f"export_encoder takes a tst MultiViT, got {type(enc).__name__}")
    weights, info_file = _export_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in clean_state_dict(enc.state_dict()).items()}
    _refuse_non_finite(tensors, weights)
    try:
        with atomic_path(weights) as tmp:
            save_file(tensors, str(tmp), metadata={"format": EXPORT_FORMAT, "model_name": model_name})
    except (OSError, RuntimeError) as e:
        raise _write_error("encoder export", weights, e) from e
    info = {"format": EXPORT_FORMAT, "format_version": FORMAT_VERSION, "model_name": model_name,
            "model_kwargs": enc.model_kwargs, "modalities": list(enc.modalities), "patch_size": enc.patch_size,
            "embed_dim": enc.embed_dim, "step": step, "git": git_hash(),
            "input": "rgb [B, 3, H, W] in [0, 1], ImageNet mean/std normalised", **(extra or {})}
    write_json(info_file, info)
    return weights


def load_encoder(path: str | Path, device: str | torch.device = "cpu") -> tuple[MultiViT, dict]:
    """Rebuild an exported encoder: ``(encoder in eval mode, info dict)``.

    ``path`` is the export directory, its ``encoder.safetensors`` or its ``encoder.json``. The
    encoder takes an ImageNet-normalised rgb batch [B, 3, H, W] and exposes ``patch_size``,
    ``embed_dim`` and ``forward_intermediates(x, indices=…)`` like timm's VisionTransformer.
    """
    weights, info_file = _export_paths(path)
    for f in (weights, info_file):
        if not f.is_file():
            raise CheckpointError(f"encoder export {path}: {f} is missing (an export is encoder.safetensors + "
                                  f"encoder.json, written by tst pretrain into <run dir>/export)")
    info = json.loads(info_file.read_text())
    if info.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{info_file} is not a tst encoder export (format={info.get('format')!r})")
    encoder = create_encoder(info["model_name"], **info["model_kwargs"])
    result = encoder.load_state_dict(_load_safetensors(weights), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{weights} does not match {info['model_name']}: missing {result.missing_keys}, "
                              f"unexpected {result.unexpected_keys}")
    return encoder.to(device).eval(), info


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} cannot be read as safetensors ({e}): the file is truncated or corrupted. "
                              f"Copy it again, or re-export it (tst pretrain writes <run dir>/export)") from e


# ------------------------------------------------------------------------------- init from file
def _timm_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm VisionTransformer keys -> ours: patch_embed -> rgb adapter, cls_token -> global token.

    ``pos_embed`` has no counterpart (ours are fixed sin-cos) and is reported as unexpected.
    """
    out = {}
    for k, v in state.items():
        if k.startswith("patch_embed.proj."):
            k = "adapters.rgb.proj." + k.removeprefix("patch_embed.proj.")
        elif k == "cls_token":
            k = "global_tokens"
        out[k] = v
    return out


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights from an export, a safetensors file, or a torch file (a state dict, or a checkpoint
    holding one under ``model`` / ``state_dict``; an encoder inside a pretraining model under ``encoder.``)."""
    p = Path(path)
    weights, _ = _export_paths(p)
    if p.is_dir():
        p = weights
    if not p.is_file():
        raise CheckpointError(f"init file {path} does not exist (give an encoder export directory, a "
                              f".safetensors file, or a timm-compatible .pth/.pt state dict)")
    if p.suffix == ".safetensors":
        state = _load_safetensors(p)
    else:
        try:  # weights_only: a file from elsewhere must not run code when it is read
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{p} cannot be loaded with weights_only=True ({str(e).strip().splitlines()[0]}): "
                                  f"it is truncated, not a torch file, or holds pickled objects, which tst does "
                                  f"not run. Give a plain state dict (.pth/.pt) or a .safetensors file") from e
        for key in ("model", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    state = clean_state_dict(state)
    if any(k.startswith("encoder.") for k in state):
        state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    return _timm_to_ours(state)


def init_encoder(encoder: MultiViT, path: str | Path) -> dict[str, list[str]]:
    """Load what matches from ``path`` into ``encoder``; returns exactly which keys were
    ``missing`` (kept at their initialisation), ``unexpected`` (in the file, unused) and
    ``mismatched`` (same name, other shape: skipped)."""
    state = read_state_dict(path)
    own = encoder.state_dict()
    mismatched = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    state = {k: v for k, v in state.items() if k not in mismatched}
    result = encoder.load_state_dict(state, strict=False)
    return {"missing": sorted(set(result.missing_keys) | set(mismatched)),
            "unexpected": sorted(result.unexpected_keys), "mismatched": mismatched}
