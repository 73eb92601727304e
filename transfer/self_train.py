"""Test-space training of a semseg head: finetune it on its own predictions, fused in 3-D over the space.

    tst transfer task=semseg … self_train.data=<the test space's unlabelled split> self_train.steps=400

Why: after training on external labelled spaces, the head is right about a surface in most views of
the test space and wrong in some. The unlabelled views the collector rendered for pretraining carry
depth and pose, so their predictions can be fused per voxel (``tst.transfer.space_fusion``) and
every view relabelled with the majority of its surfaces. Training on those labels moves the head
towards the space's consistent answer; it then needs only RGB at deployment. No test-space label is
read: the eval split stays held out, and the views used here are the pretraining views.

The phase runs after the external steps, from the head they left (whose ``ckpt.pt`` a resumed run
reloads), and is repeated whole if interrupted (a few minutes on CPU). It is deterministic: the batch
order and flips come from ``seed``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.data import Dataset

from tst.progress import bar, say
from tst.schedule import lr_at
from tst.tasks import TASKS as TASK_TABLE
from tst.transfer.lr_decay import param_groups
from tst.transfer.space_colour import ColourCalibration
from tst.transfer.space_map import fuse, posed_views, predict_views

TASKS = tuple(n for n, t in TASK_TABLE.items() if t.self_trains)  # per-pixel class ids: they fuse per voxel


def check_self_train(cfg: DictConfig) -> None:
    """Fail before any training when ``self_train`` cannot run (which key, why, the fix)."""
    st = cfg.get("self_train") or {}
    if not st.get("data"):
        return
    if cfg.task.name not in TASKS:
        raise ValueError(f"self_train.data is set but task={cfg.task.name}: self-training fuses per-pixel classes "
                         f"and supports {list(TASKS)}; drop self_train.data for this task")
    if int(st.get("steps", 0)) < 0:
        raise ValueError(f"self_train.steps must be >= 0 when self_train.data is set (0: only build the space's map "
                         f"from the head), got {st.get('steps')}")
    if not 0.0 <= float(st.get("external_fraction") or 0.0) < 1.0:
        raise ValueError(f"self_train.external_fraction is the share of each batch drawn from the external labelled "
                         f"views, in [0, 1); got {st.get('external_fraction')}")
    if not float(st.get("voxel", 0)) > 0:
        raise ValueError(f"self_train.voxel is the voxel side in metres and must be > 0, got {st.get('voxel')}")


def _to_input(rgb: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> float [B, 3, size, size] in [0, 1] (bilinear when the views are another size)."""
    x = torch.from_numpy(rgb).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return x if x.shape[-2:] == (size, size) else F.interpolate(x, size=(size, size), mode="bilinear",
                                                                  align_corners=False)


def fused_labels(task, model, split: str, voxel: float, min_votes: int, min_agreement: float, size: int,
                 batch_size: int, device: torch.device, colour: ColourCalibration | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """rgb [N, H, W, 3], fused labels [N, H, W] (0 = none) and statistics of the fusion (the head predicts the
    views through the space's ``colour`` calibration)."""
    rgb, depth, meta = posed_views(split, "self_train.data")
    pred = predict_views(task, model, rgb, size, batch_size, device, colour)
    votes = fuse(task, pred, depth, meta, voxel)
    labels = np.stack([votes.labels(d, m["intrinsics"], np.asarray(m["cam_to_world"]), min_votes, min_agreement)
                       for d, m in zip(depth, meta)])
    have = labels > 0
    stats = {"self_train/views": len(rgb), "self_train/voxels": len(votes.keys),
             "self_train/labelled_fraction": round(float(have.mean()), 4),
             # the share of labelled pixels the fusion relabels: 0 would mean it teaches the head nothing new
             "self_train/relabelled": round(float((labels != pred)[have].mean()) if have.any() else 0.0, 4)}
    return rgb, labels, stats


def _external_batch(task, external: tuple[Dataset, list[int]], n: int, gen: torch.Generator, size: int,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` labelled external samples: rgb [n, 3, size, size] and class ids in the head's vocabulary."""
    ds, idx = external
    items = [ds[idx[k]] for k in torch.randint(0, len(idx), (n,), generator=gen).tolist()]
    x = torch.stack([it["rgb"] for it in items]).to(device)
    y = task.labels({"semseg": torch.stack([it["semseg"] for it in items])}).to(device)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        y = F.interpolate(y[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
    return x, y


def self_train(cfg: DictConfig, task, model: torch.nn.Module, encoder: torch.nn.Module, device: torch.device,
               show: bool = True, external: tuple[Dataset, list[int]] | None = None,
               colour: ColourCalibration | None = None) -> dict[str, Any]:
    """Train ``model`` on the fused labels of ``cfg.self_train.data`` for ``cfg.self_train.steps``; its metrics.

    ``external_fraction`` of every batch are labelled ``external`` samples (the external training split),
    which keep the head anchored to real labels while it adapts. The space's views go through its ``colour``
    calibration (``tst.transfer.space_colour``), as they will when the head is deployed there."""
    st, t0 = cfg.self_train, time.perf_counter()
    size, bs = int(cfg.image_size), int(st.get("batch_size") or cfg.batch_size)
    n_ext = int(round(bs * float(st.get("external_fraction") or 0.0))) if external is not None else 0
    rgb, labels, stats = fused_labels(task, model, str(st.data), float(st.voxel), int(st.min_votes),
                                      float(st.get("min_agreement") or 0.0), size, int(cfg.eval_batch_size), device,
                                      colour)
    say(f"self_train: {stats['self_train/views']} views of {st.data} fused into {stats['self_train/voxels']} voxels of "
        f"{float(st.voxel):g} m; {100 * stats['self_train/relabelled']:.1f}% of the labelled pixels differ from "
        f"the head's own predictions")
    probe = cfg.protocol == "probe"  # the encoder stays frozen as it was (lr_decay.freeze)
    groups = param_groups(model, encoder, float(st.lr), float(cfg.weight_decay),
                          1.0 if probe else float(cfg.layer_decay))
    optimizer = torch.optim.AdamW(groups, betas=tuple(cfg.betas))
    schedule = dict(lr=float(st.lr), warmup=int(st.get("warmup", 0)), steps=int(st.steps), min_lr=float(cfg.min_lr))
    gen = torch.Generator().manual_seed(int(cfg.seed))
    y_all = torch.from_numpy(labels)
    last = float("nan")
    pbar = bar(total=int(st.steps), desc="self_train semseg", unit="step", enabled=show)
    for step in range(int(st.steps)):
        lr = lr_at(step, **schedule)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["lr_scale"]
        idx = torch.randint(0, len(rgb), (bs - n_ext,), generator=gen)
        flip = torch.rand(bs, generator=gen) < 0.5
        x = _to_input(rgb[idx.numpy()], size, device)
        x = colour(x) if colour is not None else x  # the space's views as the deployed head will see them
        y = y_all[idx].to(device)
        if y.shape[-2:] != (size, size):
            y = F.interpolate(y[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
        if n_ext:
            xe, ye = _external_batch(task, external, n_ext, gen, size, device)
            x, y = torch.cat([x, xe]), torch.cat([y, ye])
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        model.train()
        if probe:
            encoder.eval()
        loss = task.loss_in_vocab(model, x, y)["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"self_train: non-finite loss at step {step + 1}; lower self_train.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg.grad_clip))
        optimizer.step()
        last = loss.item()
        pbar.set_postfix(loss=f"{last:.4f}", refresh=False)
        pbar.update(1)
        if (step + 1) % int(cfg.log_every) == 0 or step + 1 == int(st.steps):
            say(f"self_train step {step + 1:6d} | loss {last:.4f} | lr {lr:.2e}")
    pbar.close()
    return {**stats, "self_train/steps": int(st.steps), "self_train/loss": last,
            "self_train/seconds": round(time.perf_counter() - t0, 1)}
