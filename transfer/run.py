"""``tst transfer``: finetune (or probe) a task head on an external labelled split; one loop for every task.

    tst transfer task=semseg|det|caption|depth init=scratch|<encoder export> data=<external split> steps=N out=…

``data`` is a tst split directory, a COCO-format folder or an ADE20K-style image/label folder set
(``tst.transfer.external``).

The task object (``tst.transfer.tasks``, picked by name from its registry) supplies the model, loss,
postprocess, evaluator and prediction files; this loop only reads batches, schedules the lr (warmup + cosine, layer-wise decay for full finetuning,
frozen encoder for ``protocol=probe``), steps, checkpoints, and evaluates on the held-out samples.
The run directory gets ``metrics.json`` (``semseg/mIoU``, ``det/AP``, ``caption/CIDEr``, ``depth/AbsRel``, … plus
``transfer/*`` speeds), ``head.pt`` (weights + head config + encoder description),
``class_map.json``, the predictions in standard formats and ``preview.png`` (image | truth | prediction).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

from tst.atomic import write_json
from tst.build import build
from tst.checkpoint import CheckpointError, init_encoder, load_checkpoint, load_encoder, save_checkpoint
from tst.device import resolve_device
from tst.finite import non_finite_inputs, non_finite_params
from tst.loader import PositionPlan, load, to_device
from tst.progress import bar, say
from tst.rng import restore_rng
from tst.rundir import open_run_dir
from tst.runlog import make_logger
from tst.schedule import lr_at
from tst.transfer import space_map
from tst.transfer.class_map import map_classes
from tst.transfer.evaluation import evaluate_loop
from tst.transfer.external import open_external, read_vocabulary
from tst.transfer.lr_decay import freeze, param_groups
from tst.transfer.self_train import check_self_train, self_train
from tst.transfer.space_colour import (
    COLOUR_FILE,
    ColourCalibration,
    calibrate_split,
    colour_metrics,
    describe,
)
from tst.transfer.tasks import TASKS, Task, TaskSpec, task_class

log = logging.getLogger(__name__)
PROTOCOLS = ("finetune", "probe")


def check_config(cfg: DictConfig) -> None:
    """Fail before any work on values that cannot work, naming the field and the fix."""
    def bad(field: str, value: Any, fix: str) -> None:
        raise ValueError(f"transfer config: {field}={value!r} is invalid; {fix}")

    if cfg.task.name not in TASKS:
        bad("task", cfg.task.name, f"choose one of {list(TASKS)}")
    if cfg.protocol not in PROTOCOLS:
        bad("protocol", cfg.protocol, f"choose one of {list(PROTOCOLS)}")
    for key in ("steps", "batch_size", "eval_batch_size"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            bad(key, cfg[key], "it must be an integer >= 1")
    if cfg.val is None and not 0.0 < float(cfg.val_fraction) < 1.0:
        bad("val_fraction", cfg.val_fraction, "hold out a fraction in (0, 1), or give val=<split dir>")
    if not cfg.data:
        bad("data", cfg.data, "give the external labelled split directory written by `tst collect split=external`")
    check_self_train(cfg)


def build_encoder(cfg: DictConfig) -> tuple[torch.nn.Module, dict]:
    """``init=scratch``: a fresh ``model=`` ViT; an encoder export (dir with encoder.json): that encoder;
    any other weights file (timm-compatible .pth/.safetensors): ``model=`` initialised from it."""
    fresh = dict(modalities=["rgb"], img_size=int(cfg.image_size))
    if cfg.init in (None, "scratch"):
        enc = build(cfg.model, **fresh)
        return enc, {"init": "scratch", "model_name": cfg.model.name, "patch_size": enc.patch_size}
    init = Path(cfg.init)
    if (init / "encoder.json").is_file() or init.with_suffix(".json").is_file():
        enc, info = load_encoder(init)
        return enc.train(), {"init": str(init), **info}
    enc = build(cfg.model, **fresh)
    report = init_encoder(enc, init)
    print(f"init {cfg.model.name} from {init}: missing {report['missing']}, unexpected {report['unexpected']}")
    return enc, {"init": str(init), "model_name": cfg.model.name, "patch_size": enc.patch_size,
                 "init_report": {k: len(v) for k, v in report.items()}}


def vocabularies(cfg: DictConfig, src: dict[int, str]) -> tuple[dict[int, str], np.ndarray, list[str]]:
    """(test-space vocabulary the head predicts, lut external id -> it, unmapped external names)."""
    dst = read_vocabulary(cfg.vocab) if cfg.vocab else dict(src)
    keep = cfg.task.get("classes")
    if keep:  # e.g. detect objects only, not floor/wall
        missing = sorted(set(keep) - set(dst.values()))
        if missing:
            raise ValueError(f"task.classes names {missing}, which are not in the vocabulary {sorted(dst.values())}")
        dst = {i: n for i, n in dst.items() if i == 0 or n in keep}
    synonyms = OmegaConf.to_container(cfg.synonyms) if cfg.get("synonyms") else None
    lut, unmapped = map_classes(src, dst, synonyms) if src else (np.zeros(1, np.int64), [])
    return dst, lut, unmapped


def build_task(cfg: DictConfig, dst: dict[int, str], lut: np.ndarray, train: Dataset, idx: list[int]) -> Task:
    spec = TaskSpec(OmegaConf.to_container(cfg.task, resolve=True), int(cfg.image_size), dst, lut, train, idx)
    return task_class(cfg.task.name).from_config(spec)


def split_indices(cfg: DictConfig, n: int) -> tuple[list[int], list[int] | None]:
    """Train / held-out sample indices of ``data`` (a seeded permutation), or all of it when ``val`` is given."""
    if cfg.val is not None:
        return list(range(n)), None
    n_val = max(1, math.ceil(float(cfg.val_fraction) * n))
    if n_val >= n:
        raise ValueError(f"{cfg.data} has {n} samples: too few to hold out val_fraction={cfg.val_fraction}; "
                         f"give val=<split dir> or collect more frames")
    perm = np.random.default_rng([int(cfg.seed), 7]).permutation(n).tolist()
    return sorted(perm[n_val:]), sorted(perm[:n_val])


def save_preview(task: Task, path: Path, batch: dict[str, Any], gts: list[dict], outs: list[dict],
                 n: int = 4) -> Path:
    """PNG with a row per sample: image | ground truth | prediction (the task draws the last two)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n, len(outs))
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for r in range(n):
        img = batch["rgb"][r].permute(1, 2, 0).clamp(0, 1).cpu().numpy()
        for c, (title, item) in enumerate((("image", None), ("ground truth", gts[r]), ("prediction", outs[r]))):
            ax = axes[r][c]
            ax.set_axis_off()
            ax.set_title(title, fontsize=9)
            if item is None:
                ax.imshow(img)
            else:
                task.draw(ax, img, item)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def evaluate(task: Task, model, ds: Dataset, indices: list[int], batch_size: int, device: torch.device,
             out_dir: Path, workers: int | str = "auto", progress: bool = True,
             colour: ColourCalibration | None = None) -> tuple[dict[str, float], float]:
    """Run the task's evaluator over ``indices``; returns (metrics, images/s), writes predictions + preview.
    ``colour``: the views are of the calibrated space, and go through its calibration first."""
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    ev, keys, first = task.evaluator(), {}, []

    def on_batch(idx, ids, batch, gts, outs) -> None:
        keys.update(zip(ids, batch["__key__"]))
        task.write_batch(out_dir, batch["__key__"], outs)
        first[:] = first or [batch, gts, outs]

    def predict(b: dict) -> list[dict]:
        return task.predict(model, b if colour is None else {**b, "rgb": colour(b["rgb"])})

    metrics, _, seconds = evaluate_loop(ds, indices, batch_size, ev, predict,
                                        task.ground_truth, device, workers=workers, progress=progress,
                                        desc="transfer eval", on_batch=on_batch)
    task.write_results(ev, out_dir)
    write_json(out_dir / "image_ids.json", {str(i): k for i, k in keys.items()})  # results image_id -> sample key
    save_preview(task, out_dir.parent / "preview.png", *first)
    return metrics, len(indices) / seconds if seconds > 0 else 0.0


@dataclass
class _Data:
    """The training split and the held-out samples, with the vocabulary the head predicts."""
    train: Dataset
    train_idx: list[int]
    val: Dataset
    val_idx: list[int]
    dst: dict[int, str]
    lut: np.ndarray
    unmapped: list[str]


def run(cfg: DictConfig) -> dict:
    check_config(cfg)
    # self_train runs after the external steps from their checkpoint: changing it keeps those steps valid
    # (tst.pipeline.EXTENDS lets a sweep resume such a run instead of replacing it)
    rd = open_run_dir(cfg, may_differ=("steps", "workers", "self_train"))
    run_path, ckpt_path = rd.path, rd.path / "ckpt.pt"
    device = resolve_device(cfg.device)
    torch.manual_seed(int(cfg.seed))
    d = _open_data(cfg, rd)
    task = build_task(cfg, d.dst, d.lut, d.train, d.train_idx)

    encoder, enc_info = build_encoder(cfg)
    model = task.build_model(encoder).to(device)
    optimizer = _optimizer(cfg, model, encoder)
    schedule = dict(lr=float(cfg.lr), warmup=int(cfg.warmup), steps=int(cfg.steps), min_lr=float(cfg.min_lr))
    checkpoint = _checkpointer(cfg, task, model, optimizer, schedule,
                               {"head_config": task.head_config(), "encoder": enc_info, "protocol": cfg.protocol})
    task.save_artifacts(run_path)
    step, rng = _resume(cfg, ckpt_path, model, optimizer)

    print(f"transfer: task={cfg.task.name} protocol={cfg.protocol} init={enc_info['init']} on {device}; "
          f"{len(d.train_idx)} train / {len(d.val_idx)} eval samples; {len(d.dst) - (0 in d.dst)} classes"
          + (f"; unmapped external classes (ignored): {d.unmapped}" if d.unmapped else ""), flush=True)
    show = bool(cfg.get("progress", True))
    with make_logger(cfg, run_path, name=run_path.name) as logger:
        logger.drop_after(step)  # the steps after the checkpoint run again: log them once
        step, last, rates = _train(cfg, task, model, encoder, optimizer, schedule, d, step, rng, device,
                                   checkpoint, ckpt_path, logger, show)
        colour = _calibrate(cfg, d, run_path)
        adapted = _adapt(cfg, task, model, encoder, device, show, d, colour)
        # views of the calibrated space are scored as the deployed head sees them (external ones as they are)
        own = colour is not None and cfg.val is not None and space_map.same_space(cfg.self_train.data, cfg.val)
        metrics, eval_rate = evaluate(task, model, d.val, d.val_idx, int(cfg.eval_batch_size), device,
                                      run_path / "predictions", cfg.get("workers", "auto"), show,
                                      colour if own else None)
        if adapted:  # the space's semantic map from the self-trained head, for agents with depth and pose
            metrics.update(space_map.after_self_train(cfg, task, model, device, run_path, colour))
        if colour is not None:
            metrics.update(colour_metrics(colour))
        logger.log_images({"transfer/predictions": run_path / "preview.png"}, step=step)
        checkpoint(rd.file("head.pt"), step, with_optimizer=False)
        metrics.update({"transfer/steps": step, "transfer/unmapped_classes": len(d.unmapped),
                        "transfer/eval_images_per_s": round(eval_rate, 2), **adapted})
        if rates:
            metrics["transfer/train_samples_per_s"] = round(sorted(rates)[len(rates) // 2], 2)
        if not math.isnan(last):
            metrics["transfer/loss"] = last
        metrics = rd.write_metrics(metrics)
        logger.summary(metrics)
    print("transfer: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if "/IoU/" not in k), flush=True)
    return {**metrics, "run_dir": str(run_path)}


def _calibrate(cfg: DictConfig, d: _Data, run_path: Path) -> ColourCalibration | None:
    """The test space's colour calibration (``tst.transfer.space_colour``) when ``self_train.data`` is set and
    ``self_train.colour`` is on, saved as ``COLOUR_FILE``; None when not."""
    st = cfg.get("self_train") or {}
    if not st.get("data") or not st.get("colour", True):
        return None
    colour = calibrate_split(str(st.data), d.train, d.train_idx, space_map.space_of(st.data))
    colour.save(run_path / COLOUR_FILE)
    say(f"self_train: {st.data} colours {describe(colour)}")
    return colour


def _adapt(cfg: DictConfig, task, model, encoder, device, show: bool, d: _Data,
           colour: ColourCalibration | None = None) -> dict:
    """Test-space training of the head when ``self_train.data`` is set ({} when not). ``self_train.steps=0``
    trains nothing: the map is then built from the external head as it is (no self-training cost)."""
    st = cfg.get("self_train") or {}
    if not st.get("data"):
        return {}
    if int(st.get("steps", 0)) == 0:
        return {"self_train/steps": 0}
    return self_train(cfg, task, model, encoder, device, show, (d.train, d.train_idx), colour)


def _open_data(cfg: DictConfig, rd) -> _Data:
    """``data`` (shards, COCO or image/label folders), its train / held-out indices, ``val`` and class_map.json."""
    modalities = task_class(cfg.task.name).modalities
    data, src = open_external(cfg.data, int(cfg.image_size), modalities)
    dst, lut, unmapped = vocabularies(cfg, src)
    write_json(rd.file("class_map.json"), {"source": {str(k): v for k, v in src.items()},
                                           "target": {str(k): v for k, v in dst.items()},
                                           "lut": lut.tolist(), "unmapped": unmapped})
    train_idx, val_idx = split_indices(cfg, len(data))
    val_ds = open_external(cfg.val, int(cfg.image_size), modalities)[0] if cfg.val is not None else data
    val_idx = list(range(len(val_ds))) if val_idx is None else val_idx
    return _Data(data, train_idx, val_ds, val_idx, dst, lut, unmapped)


def _optimizer(cfg: DictConfig, model: torch.nn.Module, encoder: torch.nn.Module) -> torch.optim.AdamW:
    """AdamW with layer-wise lr decay (finetune), or over the head alone with the encoder frozen (probe)."""
    probe = cfg.protocol == "probe"
    if probe:
        freeze(encoder)
    groups = param_groups(model, encoder, float(cfg.lr), float(cfg.weight_decay),
                          1.0 if probe else float(cfg.layer_decay))
    return torch.optim.AdamW(groups, betas=tuple(cfg.betas))


def _checkpointer(cfg: DictConfig, task: Task, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  schedule: dict, head_info: dict):
    """``checkpoint(path, step, with_optimizer)``: ckpt.pt to resume from, or head.pt (no optimizer) for deploy."""
    plain_cfg = OmegaConf.to_container(cfg, resolve=True)

    def checkpoint(path: Path, step: int, with_optimizer: bool) -> None:
        save_checkpoint(path, model=model, model_name=f"{cfg.task.name}_head", modalities=list(task.modalities),
                        step=step, config=plain_cfg, optimizer=optimizer if with_optimizer else None,
                        schedule=schedule, rng={"torch": torch.get_rng_state()},
                        data_position=step * int(cfg.batch_size), extra=head_info)
    return checkpoint


def _resume(cfg: DictConfig, ckpt_path: Path, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer) -> tuple[int, dict | None]:
    """The step to start from and the RNG state to continue with: (0, None), or the checkpoint's, with weights
    and optimizer restored (``_train`` restores the RNG once its data loader has drawn its seed)."""
    if ckpt_path.exists() and not cfg.resume:
        raise CheckpointError(f"{ckpt_path.parent} already holds a checkpoint; pass resume=true to continue it, "
                              f"overwrite=true to start again, or another out=<dir>")
    if not (cfg.resume and ckpt_path.exists()):
        return 0, None
    state = load_checkpoint(ckpt_path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), state["rng"]


def _diverged(ckpt_path: Path, what: str, fix: str) -> FloatingPointError:
    return FloatingPointError(f"{what}; stopped without saving. The last good checkpoint is "
                              f"{ckpt_path if ckpt_path.exists() else 'not written yet'}; {fix}")


def _train(cfg: DictConfig, task: Task, model, encoder, optimizer, schedule: dict, d: _Data, step: int,
           rng: dict | None, device: torch.device, checkpoint, ckpt_path: Path, logger,
           show: bool) -> tuple[int, float, list[float]]:
    """Steps from ``step`` to ``steps`` on the same samples and random draws whether resumed (``rng``: the
    checkpoint's) or not; returns (step, last loss, samples/s of every step)."""
    bs, rates, last = int(cfg.batch_size), [], float("nan")
    plan = PositionPlan(len(d.train), int(cfg.seed), bs, start=step * bs, steps=int(cfg.steps) - step,
                        subset=d.train_idx, epochs=False)
    batches = iter(load(d.train, plan, cfg.get("workers", "auto"), device))
    if rng is not None:  # after the loader drew its workers' seed from torch's generator, as a fresh run's did
        restore_rng(rng)
    pbar = bar(total=int(cfg.steps), initial=step, desc=f"transfer {cfg.task.name}", unit="step", enabled=show)
    while step < int(cfg.steps):
        t0 = time.perf_counter()
        lr = lr_at(step, **schedule)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["lr_scale"]
        batch = to_device(next(batches), device)
        model.train()
        if cfg.protocol == "probe":
            encoder.eval()
        last = _train_step(cfg, task, model, optimizer, batch, step, lr, ckpt_path)
        step += 1
        rates.append(bs / (time.perf_counter() - t0))
        pbar.set_postfix(loss=f"{last:.4f}", refresh=False)
        pbar.update(1)
        if step % int(cfg.log_every) == 0 or step in (1, int(cfg.steps)):
            logger.log({"train/loss": last, "lr": lr, "samples_per_s": rates[-1]}, step=step)
            say(f"step {step:6d} | loss {last:.4f} | lr {lr:.2e} | {rates[-1]:.1f} samples/s")
        if step % int(cfg.ckpt_every) == 0 or step == int(cfg.steps):
            checkpoint(ckpt_path, step, with_optimizer=True)
    pbar.close()
    return step, last, rates


def _train_step(cfg: DictConfig, task: Task, model, optimizer, batch: dict, step: int, lr: float,
                ckpt_path: Path) -> float:
    """Loss, backward, clip, AdamW step; refuses a NaN/inf input, loss or weight. Returns the loss."""
    bad = non_finite_inputs(batch, list(batch))
    if bad:
        raise _diverged(ckpt_path, f"non-finite values at step {step + 1} in the {', '.join(bad)} input (NaN/inf "
                        f"in the batch read from {cfg.data})", "check those samples")
    out = task.loss(model, batch)
    if not torch.isfinite(out["loss"]):
        raise _diverged(ckpt_path, f"non-finite loss at step {step + 1}: {out}", "lower lr or check the data")
    optimizer.zero_grad(set_to_none=True)
    out["loss"].backward()
    if cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg.grad_clip))
    optimizer.step()
    bad = non_finite_params(model)  # a finite loss can still take a step to NaN weights
    if bad:
        raise _diverged(ckpt_path, f"non-finite weights after step {step + 1} at lr={lr:.3g} ({len(bad)} tensors: "
                        f"{', '.join(bad[:3])}{', …' if len(bad) > 3 else ''})",
                        "lower lr (or lengthen warmup, or set grad_clip) and start again")
    return out["loss"].item()
