"""``tst pretrain``: masked multimodal pretraining of the shared ViT on the test space.

One loop, nanoGPT-style: lr from ``lr_at(step)``, micro-batches under autocast, backward, clip,
AdamW step, log, preview, checkpoint. Everything random is seeded and checkpointed (weights,
optimizer, masker RNG, torch RNG, data position), so a killed run continued with ``resume=true``
follows the same loss curve as one that was never interrupted. ``batch_size`` is the global batch
per optimizer step; DDP ranks and accumulation micro-steps split it, and masks are drawn for the
whole global batch on every rank, so 2 processes compute the same numbers as 1.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from tst import distributed as dist
from tst.atomic import write_json
from tst.augment import AlignedAugment
from tst.build import build
from tst.checkpoint import CheckpointError, export_encoder, init_encoder, load_checkpoint, save_checkpoint
from tst.dataset import ShardDataset
from tst.finite import blame, non_finite_inputs, non_finite_params
from tst.loader import PositionPlan, load, to_device
from tst.modalities import get_modality
from tst.models.adapters import grid_size
from tst.precision import autocast_for
from tst.pretrain.masking import DirichletMasker
from tst.pretrain.monitor import memory_mb, save_preview
from tst.pretrain.objective import MultiMAE, check_objective
from tst.pretrain.optim import make_optimizer
from tst.progress import bar, say
from tst.rng import restore_rng, rng_state
from tst.rundir import RunDirError, open_run_dir
from tst.runlog import make_logger
from tst.schedule import lr_at
from tst.shards import read_manifest
from tst.timm_export import export_timm


class NonFiniteLoss(FloatingPointError):
    """An input, a loss or the weights became NaN/inf; training stopped and the last good checkpoint was kept."""


def _check_config(cfg: DictConfig, world: int) -> tuple[list[str], int, int]:
    modalities = list(cfg.modalities)
    check_objective(cfg.objective.name, modalities)
    size, patch = int(cfg.image_size), int(cfg.model.patch_size)
    if size % patch:
        raise ValueError(f"image_size={size} is not a multiple of model.patch_size={patch}; "
                         f"set image_size to a multiple of {patch} (e.g. {max(1, size // patch) * patch})")
    per = int(cfg.accum) * world
    if int(cfg.batch_size) % per:
        raise ValueError(f"batch_size={cfg.batch_size} must divide into accum={cfg.accum} micro-steps x "
                         f"{world} processes; use a multiple of {per}")
    return modalities, size, int(cfg.batch_size) // per


def _on_device(batch: dict, size: int, modalities: list[str], data: str, device: torch.device) -> dict[str, torch.Tensor]:
    """The model's inputs of a loaded batch on ``device``, after checking they have the training size."""
    for m in modalities:
        if tuple(batch[m].shape[-2:]) != (size, size):
            raise ValueError(f"sample {batch['__key__'][0]} of {data} has {m} of size {tuple(batch[m].shape[-2:])} "
                             f"but image_size={size}; set image_size={batch[m].shape[-1]} or enable augment "
                             f"(it crops and resizes)")
    return to_device({m: batch[m] for m in modalities}, device)


def _num_classes(cfg: DictConfig, modalities: list[str]) -> dict[str, int]:
    """Class counts of label modalities (semseg): ``num_classes=`` or the split's manifest vocabulary."""
    labels = [m for m in modalities if get_modality(m).kind == "label"]
    if not labels:
        return {}
    if cfg.get("num_classes"):
        return {m: int(cfg.num_classes) for m in labels}
    manifest = read_manifest(cfg.data)
    vocab = manifest.get("classes", manifest.get("class_names"))
    if not vocab:
        raise ValueError(f"{Path(cfg.data) / 'manifest.json'} has no class vocabulary (classes / class_names) "
                         f"for {labels}; pass num_classes=<number of class ids, 0 included>")
    n = max(int(k) for k in vocab) + 1 if isinstance(vocab, dict) else len(vocab)
    return {m: n for m in labels}


def run(cfg: DictConfig) -> dict:
    info = dist.setup(cfg.get("device", "auto"))
    try:
        return _run(cfg, info)
    finally:
        dist.cleanup(info)


@dataclass
class _Training:
    """What every step reads and the checkpoint saves; ``step`` and ``position`` advance as it trains."""
    cfg: DictConfig
    info: dist.DistInfo
    modalities: list[str]
    size: int
    micro: int
    model: MultiMAE
    optimizer: torch.optim.Optimizer
    masker: DirichletMasker
    schedule: dict
    step: int = 0
    position: int = 0
    rng: dict | None = None  # a resumed run's RNG state, restored once the data loader has drawn its seed


def _run(cfg: DictConfig, info: dist.DistInfo) -> dict:
    modalities, size, micro = _check_config(cfg, info.world_size)
    rd, run_path = _open_run(cfg, info)
    ckpt_path = run_path / "ckpt.pt"
    logger = make_logger(cfg, run_path, name=run_path.name) if info.is_main else None
    augment = AlignedAugment(size, tuple(cfg.augment.scale), float(cfg.augment.hflip), seed=int(cfg.seed)) \
        if cfg.augment else None
    # fails listing the members the shards have; images stay integers until they reach the device
    ds = ShardDataset(cfg.data, modalities, augment=augment, stored=True)

    torch.manual_seed(int(cfg.seed))
    t, budget, init_report = _build(cfg, info, modalities, size, micro)
    if cfg.resume and ckpt_path.exists():
        _resume(t, ckpt_path)
    if logger is not None:
        logger.drop_after(t.step)  # the steps after the checkpoint run again: log them once
    checkpoint = _checkpointer(t, ckpt_path, OmegaConf.to_container(cfg, resolve=True))
    if info.is_main:
        _announce(t, len(ds), budget, init_report, run_path, logger)

    last, rates = _train(t, ds, _wrap(t.model, cfg, info), checkpoint, logger, run_path, ckpt_path)
    result = _finish(t, rd, logger, last, rates) if info.is_main else {}
    dist.barrier(info)
    return result


def _open_run(cfg: DictConfig, info: dist.DistInfo):
    """Rank 0 opens (or refuses) the run directory; the other ranks learn its path, or its refusal."""
    rd, error = None, None
    if info.is_main:
        try:
            rd = open_run_dir(cfg, may_differ=("steps", "workers"))
        except RunDirError as e:
            error = str(e)
    path, error = dist.broadcast_object((str(rd.path) if rd else None, error), info)
    if error:
        raise RunDirError(error)
    run_path = Path(path)
    if (run_path / "ckpt.pt").exists() and not cfg.resume:
        raise CheckpointError(f"{run_path} already holds a checkpoint; pass resume=true to continue it, "
                              f"overwrite=true to start again, or another out=<dir>")
    return rd, run_path


def _build(cfg: DictConfig, info: dist.DistInfo, modalities: list[str], size: int,
           micro: int) -> tuple[_Training, int, dict | None]:
    """Encoder (+ its init), MultiMAE decoders, optimizer, masker and lr schedule; returns the visible-token budget."""
    encoder = build(cfg.model, modalities=modalities, img_size=size, num_classes=_num_classes(cfg, modalities))
    init_report = init_encoder(encoder, cfg.init) if cfg.init else None
    ob = cfg.objective
    model = MultiMAE(encoder, int(ob.dec_dim), int(ob.dec_depth), int(ob.dec_heads),
                     dict(ob.loss_weights or {})).to(info.device)
    optimizer = make_optimizer(model, float(cfg.lr), float(cfg.weight_decay), tuple(cfg.betas))
    tokens = model.tokens_per_modality(size, size)
    budget = max(1, round(float(ob.visible_ratio) * grid_size(size, size, model.patch_size)[0] ** 2))
    masker = DirichletMasker(tokens, budget, float(ob.alpha), seed=int(cfg.seed))
    schedule = dict(lr=float(cfg.lr), min_lr=float(cfg.min_lr), warmup=int(cfg.warmup), steps=int(cfg.steps))
    return _Training(cfg, info, modalities, size, micro, model, optimizer, masker, schedule), budget, init_report


def _resume(t: _Training, ckpt_path: Path) -> None:
    """Weights, optimizer, masker, step and data position exactly as the checkpoint left them; the torch RNG state
    is kept in ``t.rng`` for ``_train`` to restore once its data loader has drawn its seed."""
    state = load_checkpoint(ckpt_path)
    t.model.load_state_dict(state["model"])
    t.optimizer.load_state_dict(state["optimizer"])
    t.masker.load_state_dict(state["rng"]["masker"])
    t.step, t.position, t.rng = state["step"], state["data_position"], state["rng"]


def _checkpointer(t: _Training, ckpt_path: Path, plain_cfg: dict):
    """``checkpoint()`` writes ckpt.pt at the current step (rank 0 only; the ranks hold the same weights)."""
    def checkpoint() -> None:
        if t.info.is_main:
            save_checkpoint(ckpt_path, model=t.model, model_name=t.cfg.model.name, modalities=t.modalities,
                            step=t.step, config=plain_cfg, optimizer=t.optimizer, schedule=t.schedule,
                            rng=rng_state(t.masker.state_dict()), data_position=t.position)
    return checkpoint


def _announce(t: _Training, samples: int, budget: int, init_report: dict | None, run_path: Path, logger) -> None:
    cfg = t.cfg
    print(f"pretrain: {cfg.model.name} on {t.modalities} at {t.size}px, {budget} visible tokens, "
          f"{samples} samples, {t.info.world_size} process(es) on {t.info.device}, from step {t.step}", flush=True)
    if init_report:
        print(f"init from {cfg.init}: missing {init_report['missing']}, unexpected {init_report['unexpected']}")
        write_json(run_path / "init_report.json", {"init": str(cfg.init), **init_report})
        logger.summary({f"init/{k}": len(v) for k, v in init_report.items()})


def _wrap(model: MultiMAE, cfg: DictConfig, info: dist.DistInfo) -> torch.nn.Module:
    """What the step calls: the model, compiled (``compile=true``) and under DDP when torchrun started >1 process."""
    fwd = torch.compile(model) if cfg.compile else model
    if info.enabled:
        fwd = torch.nn.parallel.DistributedDataParallel(
            fwd, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    return fwd


def _stop(pbar, logger, ckpt_path: Path, step: int, what: str, fix: str) -> None:
    """End the run on a NaN/inf without saving: the last good checkpoint stays as it was."""
    pbar.close()
    msg = (f"{what}; stopped without saving. The last good checkpoint is "
           f"{ckpt_path if ckpt_path.exists() else 'not written yet'}; {fix}")
    if logger:
        logger.log({"error": msg}, step=step + 1)
        logger.close()
    raise NonFiniteLoss(msg)


def _train(t: _Training, ds: ShardDataset, fwd: torch.nn.Module, checkpoint, logger, run_path: Path,
           ckpt_path: Path) -> tuple[dict[str, float], list[float]]:
    """Optimizer steps from ``t.step`` to ``steps``; returns the last step's losses and every step's samples/s."""
    cfg, info = t.cfg, t.info
    autocast = autocast_for(cfg.precision, info.device)
    gbatch = int(cfg.batch_size)
    last: dict[str, float] = {}
    rates: list[float] = []
    pbar = bar(total=int(cfg.steps), initial=t.step, desc="pretrain", unit="step",
               enabled=info.is_main and bool(cfg.get("progress", True)))
    stop = partial(_stop, pbar, logger, ckpt_path)
    # this rank's micro-batches from the checkpoint's data position on, decoded by worker processes
    plan = PositionPlan(len(ds), int(cfg.seed), gbatch, start=t.position, steps=int(cfg.steps) - t.step,
                        micro=t.micro, accum=int(cfg.accum), rank=info.rank, world=info.world_size)
    batches = iter(load(ds, plan, cfg.get("workers", "auto"), info.device))
    if t.rng is not None:  # after the loader drew its workers' seed from torch's generator, as a fresh run's did
        restore_rng(t.rng)
    t.model.train()
    while t.step < int(cfg.steps):
        t0 = time.perf_counter()
        lr = lr_at(t.step, **t.schedule)
        losses, grad_norm, batch, masks = _train_step(t, fwd, batches, autocast, lr, stop)
        t.step += 1
        t.position += gbatch
        dt = time.perf_counter() - t0
        pbar.set_postfix(loss=f"{losses['loss']:.4f}", refresh=False)
        pbar.update(1)
        rates.append(gbatch / dt)
        last = losses
        if info.is_main:
            _report(t, logger, losses, lr, grad_norm, gbatch / dt, run_path, batch, masks)
        if t.step % int(cfg.ckpt_every) == 0 or t.step == int(cfg.steps):
            checkpoint()
    pbar.close()
    return last, rates


def _train_step(t: _Training, fwd: torch.nn.Module, batches, autocast, lr: float, stop):
    """One optimizer step over ``accum`` micro-batches; stops the run on a NaN/inf input, loss or weight."""
    cfg, info, modalities, micro = t.cfg, t.info, t.modalities, t.micro
    accum, gbatch, device = int(cfg.accum), int(cfg.batch_size), info.device
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    draw = t.masker(gbatch)  # the whole global batch, identical on every rank
    sums = {m: torch.zeros((), device=device) for m in [*modalities, "loss"]}
    bad_in = torch.zeros(len(modalities), device=device)  # per modality: NaN/inf in an input batch
    for j in range(accum):
        lo = j * micro * info.world_size + info.rank * micro
        batch = _on_device(next(batches), t.size, modalities, cfg.data, device)
        bad_in += torch.tensor([float(m in non_finite_inputs(batch, [m])) for m in modalities], device=device)
        masks = draw.slice(lo, lo + micro).to(device)
        sync = info.enabled and j < accum - 1
        with fwd.no_sync() if sync else nullcontext(), autocast():
            out = fwd(batch, masks)
        (out["loss"] / accum).backward()
        for k in sums:
            sums[k] += out[k].detach().float() / accum
    losses = {k: float(dist.all_reduce_mean(v, info)) for k, v in sums.items()}
    # an input's NaN/inf spreads to every loss through attention: blame the input first
    bad_inputs = [m for m, f in zip(modalities, dist.all_reduce_mean(bad_in, info).tolist()) if f > 0]
    if bad_inputs:
        stop(t.step, f"non-finite values at step {t.step + 1} in the {', '.join(bad_inputs)} input (NaN/inf in the "
             f"batch read from {cfg.data})", "check that modality's data, or leave it out of modalities=")
    bad = [m for m in modalities if not math.isfinite(losses[m])]
    if bad or not math.isfinite(losses["loss"]):
        stop(t.step, f"non-finite loss at step {t.step + 1} in modality {', '.join(bad) or 'loss'} "
             f"({ {m: losses[m] for m in modalities} })", "lower lr or check that modality's data")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(t.model.parameters(), float(cfg.grad_clip))) \
        if cfg.grad_clip else None
    t.optimizer.step()
    t.optimizer.zero_grad(set_to_none=True)
    diverged = non_finite_params(t.model)  # a finite loss can still take a step to NaN weights
    if diverged:
        stop(t.step, f"non-finite weights after step {t.step + 1} at lr={lr:.3g} in "
             f"{', '.join(blame(diverged, modalities))} ({len(diverged)} tensors: {', '.join(diverged[:3])}"
             f"{', …' if len(diverged) > 3 else ''})", "lower lr (or lengthen warmup, or set grad_clip) and start again")
    return losses, grad_norm, batch, masks


def _report(t: _Training, logger, losses: dict[str, float], lr: float, grad_norm: float | None, rate: float,
            run_path: Path, batch: dict, masks) -> None:
    """Rank 0: the log row and console line every ``log_every`` steps, the preview PNG every ``preview_every``."""
    cfg, step, modalities = t.cfg, t.step, t.modalities
    if step % int(cfg.log_every) == 0 or step == 1 or step == int(cfg.steps):
        row = {"train/loss": losses["loss"], **{f"train/{m}": losses[m] for m in modalities}, "lr": lr,
               "samples_per_s": rate, "mem_mb": memory_mb(t.info.device)}
        if grad_norm is not None:
            row["grad_norm"] = grad_norm
        logger.log(row, step=step)
        say(f"step {step:6d} | loss {losses['loss']:.4f} | "
            + " ".join(f"{m} {losses[m]:.4f}" for m in modalities)
            + f" | lr {lr:.2e} | {rate:.1f} samples/s | {row['mem_mb']:.0f} MiB")
    if cfg.preview_every and step % int(cfg.preview_every) == 0:
        t.model.eval()
        logger.log_images({"pretrain/preview": save_preview(run_path / "previews" / f"step_{step:06d}.png",
                                                            t.model.reconstruct(batch, masks), step)}, step=step)
        t.model.train()


def _finish(t: _Training, rd, logger, last: dict[str, float], rates: list[float]) -> dict:
    """Rank 0: the encoder export (tst + timm formats), metrics.json and the logger's summary."""
    cfg, run_path = t.cfg, rd.path
    export = export_encoder(run_path / "export", t.model.encoder, model_name=cfg.model.name, step=t.step,
                            extra={"objective": cfg.objective.name, "image_size": t.size,
                                   "timm": export_timm(run_path / "export", t.model.encoder, cfg.model.name)})
    metrics = {"pretrain/steps": t.step,
               **({"pretrain/loss": last["loss"], **{f"pretrain/{m}": last[m] for m in t.modalities}} if last else {}),
               **({"pretrain/samples_per_s": sorted(rates)[len(rates) // 2]} if rates else {})}
    metrics = rd.write_metrics(metrics)
    logger.summary(metrics)
    logger.close()
    return {**metrics, "run_dir": str(run_path), "export": str(export.parent)}
