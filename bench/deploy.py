"""Perception plugin latency per frame and agent-demo frames/s (what an agent pays every step).

Heads are built fresh through the transfer tasks on a tst_vit_tiny encoder at 224² with the
default task configs (configs/task/*.yaml): latency does not depend on the weights, so no training
is needed. Each head alone and all heads together run on 224² uint8 frames through
``Perception.__call__`` (conversion, inference, output formatting included); p50/p95 over the timed
frames after warm-up. On a machine with CUDA the same is measured on the GPU too. The agent demo
loop (walk, Open3D render, plugin, annotation, map) runs on a generated apartment's eval split.

    .venv/bin/python -m bench deploy      # -> runs/bench/deploy.json
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
from omegaconf import OmegaConf

from tst.cli import config_dir
from tst.collect.run import run as collect
from tst.models.vit import create_encoder
from tst.transfer.agent_demo import run_agent
from tst.transfer.perception import Perception
from tst.transfer.tasks.caption import CaptionTask, train_tokenizer
from tst.transfer.tasks.det import DetTask
from tst.transfer.tasks.semseg import SemSegTask

SIZE, WARMUP, TIMED, AGENT_STEPS = 224, 2, 12, 12
VOCAB = {0: "unlabelled", 1: "floor", 2: "wall", 3: "chair", 4: "table", 5: "sofa", 6: "bed"}
CAPTIONS = ["a living room with a sofa and a table", "a bedroom with a bed", "a kitchen seen from the door"]
THREADS = int(os.environ.get("TST_BENCH_THREADS", "1"))  # one thread: stable numbers on a shared machine


def task_defaults(name: str) -> dict:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return OmegaConf.to_container(compose("transfer", overrides=[f"task={name}", "data=x"]).task, resolve=True)


def build_heads() -> dict:
    """task -> (task, model, input size): fresh heads on fresh tst_vit_tiny encoders."""
    torch.manual_seed(0)
    heads = {}
    for name in ("semseg", "det", "caption"):
        t = task_defaults(name)
        enc = create_encoder("tst_vit_tiny", modalities=["rgb"], img_size=SIZE, patch_size=16)
        if name == "semseg":
            task = SemSegTask(VOCAB, head=t["head"], head_kwargs=t["model_kwargs"])
        elif name == "det":
            task = DetTask(VOCAB, SIZE, model_kwargs=t["model_kwargs"])
        else:
            task = CaptionTask(train_tokenizer(CAPTIONS), max_len=t["max_len"], decoding=t["decoding"],
                               beam_size=t["beam_size"], model_kwargs=t["model_kwargs"])
        heads[name] = (task, task.build_model(enc).eval(), SIZE)
    return heads


def latency(perceptions: dict[str, Perception], frames: list[np.ndarray]) -> dict:
    """p50/p95 ms per configuration, frames interleaved across configurations (the machine is shared)."""
    times: dict[str, list[float]] = {n: [] for n in perceptions}
    for i in range(WARMUP + TIMED):
        for name, perceive in perceptions.items():
            t0 = time.perf_counter()
            perceive({"rgb": frames[i % len(frames)]})
            if i >= WARMUP:
                times[name].append(1000 * (time.perf_counter() - t0))
    return {n: {"p50_ms": round(float(np.percentile(t, 50)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2)}
            for n, t in times.items()}


def main(out_dir: Path) -> dict:
    torch.set_num_threads(THREADS)
    heads = build_heads()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(4)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result: dict = {"image_size": SIZE, "encoder": "tst_vit_tiny", "threads": THREADS, "timed_frames": TIMED,
                    "latency": {}}
    for dev in devices:
        perceptions = {n: Perception({n: heads[n]}, device=dev, score_threshold=0.5) for n in heads}
        perceptions["all"] = Perception(heads, device=dev, score_threshold=0.5)
        per = latency(perceptions, frames)
        per["all_over_sum_of_heads"] = round(per["all"]["p50_ms"] / sum(per[n]["p50_ms"] for n in heads), 3)
        for name in perceptions:
            print(f"deploy bench: {dev} {name:8s} p50 {per[name]['p50_ms']:8.1f} ms  p95 {per[name]['p95_ms']:8.1f} ms",
                  flush=True)
        result["latency"][dev] = per

    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp) / "eval"
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose("collect", overrides=["scene=synth", "scene.seed=0", "split=eval", "frames=1",
                                                f"resolution={SIZE}", "logger=none", "progress=false", f"out={split}"])
        collect(cfg)
        perception = Perception(heads, device=devices[-1], score_threshold=0.5)
        agent = run_agent(perception, split, Path(tmp) / "demo", steps=AGENT_STEPS, threads=THREADS)["metrics"]
    result["agent"] = {"device": devices[-1], "steps": AGENT_STEPS, "frames_per_s": agent["agent/frames_per_s"],
                       "perception_ms_p50": agent["agent/perception_ms_p50"], "map_miou_untrained": agent.get("map/mIoU")}
    print(f"deploy bench: agent demo {agent['agent/frames_per_s']:.2f} frames/s on {devices[-1]} (all heads, "
          f"render + plugin + annotate + map)", flush=True)
    (out_dir / "deploy.json").write_text(json.dumps(result, indent=2))
    return result
