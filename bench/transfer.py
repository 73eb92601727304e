"""Finetuning samples/s and evaluation images/s per transfer task at 224² (issue 5 §6).

The input is real: a small labelled eval split of a generated apartment (rgb, semseg, instance,
captions) collected at 224² and read back through ``tst.dataset``, as the finetuning loop reads it.
Each task builds its head on a fresh ``tst_vit_tiny`` encoder (speed does not depend on the
weights) and times, interleaved across tasks, a full finetuning step (task loss, backward, AdamW
with layer-wise lr decay groups, as ``tst transfer`` does) and ``task.predict`` in eval mode.
CPU always; CUDA too when the machine has it.

    .venv/bin/python -m bench transfer      # -> runs/bench/transfer.json
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from bench.deploy import task_defaults
from tst.cli import config_dir
from tst.collect.run import run as collect
from tst.dataset import ShardDataset, collate
from tst.models.vit import create_encoder
from tst.shards import read_manifest
from tst.transfer.lr_decay import param_groups
from tst.transfer.tasks.caption import CaptionTask, train_tokenizer
from tst.transfer.tasks.det import DetTask
from tst.transfer.tasks.semseg import SemSegTask

SIZE, FRAMES, BATCH, WARMUP, TIMED = 224, 8, 4, 1, 3
THREADS = int(os.environ.get("TST_BENCH_THREADS", "0")) or torch.get_num_threads()


def eval_split(root: Path) -> Path:
    split = root / "eval"
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("collect", overrides=["scene=synth", "scene.seed=0", "split=eval", f"frames={FRAMES}",
                                            f"resolution={SIZE}", "extras=[caption]", "logger=none",
                                            "progress=false", f"out={split}"])
    collect(cfg)
    return split


def build_tasks(split: Path, batch: dict) -> dict:
    classes = {int(k): v for k, v in read_manifest(split)["classes"].items()}
    tasks = {}
    for name in ("semseg", "det", "caption"):
        t = task_defaults(name)
        if name == "semseg":
            tasks[name] = SemSegTask(classes, head=t["head"], head_kwargs=t["model_kwargs"])
        elif name == "det":
            tasks[name] = DetTask(classes, SIZE, model_kwargs=t["model_kwargs"])
        else:
            tok = train_tokenizer(batch["caption"])
            tasks[name] = CaptionTask(tok, max_len=t["max_len"], decoding=t["decoding"], beam_size=t["beam_size"],
                                      model_kwargs=t["model_kwargs"])
    return tasks


def to(batch: dict, device: str) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def measure(tasks: dict, batch: dict, device: str) -> dict:
    models, optims = {}, {}
    for name, task in tasks.items():
        torch.manual_seed(0)
        enc = create_encoder("tst_vit_tiny", modalities=["rgb"], img_size=SIZE, patch_size=16)
        models[name] = task.build_model(enc).to(device)
        optims[name] = torch.optim.AdamW(param_groups(models[name], enc, lr=1e-4, weight_decay=0.05,
                                                      layer_decay=0.75))
    b = to(batch, device)
    train: dict[str, list[float]] = {n: [] for n in tasks}
    infer: dict[str, list[float]] = {n: [] for n in tasks}
    for i in range(WARMUP + TIMED):  # interleaved: the machine's load hits every task alike
        for name, task in tasks.items():
            model, opt = models[name], optims[name]
            model.train()
            t0 = time.perf_counter()
            loss = task.loss(model, b)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _sync(device)
            t1 = time.perf_counter()
            model.eval()
            task.predict(model, b)
            _sync(device)
            t2 = time.perf_counter()
            if i >= WARMUP:
                train[name].append(t1 - t0)
                infer[name].append(t2 - t1)
    n = len(batch["rgb"])
    return {name: {"finetune_samples_per_s": round(n / float(np.median(train[name])), 3),
                   "eval_images_per_s": round(n / float(np.median(infer[name])), 3)} for name in tasks}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main(out_dir: Path) -> dict:
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        split = eval_split(Path(tmp))
        ds = ShardDataset(split, ["rgb", "semseg", "instance", "caption"])
        batch = collate([ds[i] for i in range(BATCH)])
        tasks = build_tasks(split, batch)
    result = {"image_size": SIZE, "encoder": "tst_vit_tiny", "batch": BATCH, "threads": THREADS,
              "timed_steps": TIMED, "devices": {}}
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        per = measure(tasks, batch, device)
        for name, r in per.items():
            print(f"transfer bench: {device} {name:8s} finetune {r['finetune_samples_per_s']:7.2f} samples/s   "
                  f"eval {r['eval_images_per_s']:7.2f} images/s", flush=True)
        result["devices"][device] = per
    (out_dir / "transfer.json").write_text(json.dumps(result, indent=2))
    return result
