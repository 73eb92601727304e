"""Rebuild a finetuned task model from a transfer run's ``head.pt`` (what deploy and agents load).

``head.pt`` carries the weights of the whole task model (encoder + head), the task's
``head_config`` (task name, classes, head kind, sizes), a description of the encoder it was trained
on, and the protocol. This module turns that back into ``(task, model)``: it rebuilds the encoder
architecture from the description, or takes the encoder the caller hands in — after checking that
its patch size is the one the head was trained for, which is the mistake that would otherwise show
up as a shape error (or, worse, silently wrong features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tst.checkpoint import CheckpointError, load_checkpoint
from tst.models.vit import create_encoder
from tst.transfer.backbone import check_patch_size
from tst.transfer.tasks import TASKS, Task


def task_from_config(head_config: dict[str, Any], run_dir: str | Path) -> Task:
    """A task object equal to the one that trained the head (no external label mapping: the head
    predicts in its own vocabulary); the task class reads back its own ``head_config``."""
    name = head_config.get("task")
    if name not in TASKS:
        raise CheckpointError(f"head_config names task {name!r}; known tasks: {sorted(TASKS)}")
    return TASKS[name].from_head_config(head_config, Path(run_dir))


def encoder_from_info(info: dict[str, Any], image_size: int | None = None) -> nn.Module:
    """The (untrained) encoder architecture described in ``head.pt``; its weights come from the head file."""
    if "model_kwargs" in info:  # a tst encoder export
        return create_encoder(info["model_name"], **info["model_kwargs"])
    kwargs = {"modalities": ["rgb"], "patch_size": int(info["patch_size"])}
    if image_size is not None:
        kwargs["img_size"] = int(image_size)
    return create_encoder(info["model_name"], **kwargs)


def load_head(path: str | Path, encoder: nn.Module | None = None, device: str | torch.device = "cpu"):
    """``head.pt`` (or its run directory) -> ``(task, model in eval mode, checkpoint dict)``.

    With ``encoder`` given, its patch size must match the one recorded in the head; its weights are
    then replaced by the finetuned ones stored in ``head.pt``.
    """
    path = Path(path)
    path = path / "head.pt" if path.is_dir() else path
    state = load_checkpoint(path)
    for key in ("head_config", "encoder", "model"):
        if key not in state:
            raise CheckpointError(f"{path} has no {key!r}: it is not a head written by `tst transfer`")
    info = state["encoder"]
    if encoder is None:
        encoder = encoder_from_info(info, state.get("config", {}).get("image_size"))
    elif "patch_size" in info:
        check_patch_size(encoder, int(info["patch_size"]), f"the head in {path}")
    task = task_from_config(state["head_config"], path.parent)
    model = task.build_model(encoder)
    result = model.load_state_dict(state["model"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{path} does not fit the rebuilt {state['head_config']['task']} model: missing "
                              f"{result.missing_keys[:8]}, unexpected {result.unexpected_keys[:8]}")
    return task, model.to(device).eval(), state
