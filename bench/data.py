"""Data path speed: is the loader fast enough to keep the trainer fed (issue 13)?

On a freshly collected 224² split (synth apartment, rgb + depth + normal PNGs), one core:
- ``bound_ms``: bare ``cv2.imdecode`` of the three members of a sample (bytes already in memory).
- ``decode_ms``: ``ShardDataset[i]`` — read, decode, float tensors. Target: near or under the bound.
- ``decode_aug_ms``: the same with the aligned augmentation (random resized crop to 224 + flip).
  Target <= 3 ms.
Rounds alternate (bound, decode, decode+aug) and medians of CPU time per sample are reported (wall
clock beside them), because the machine is shared.
Then samples/s of ``tst.loader.load`` as pretraining reads (batch 32, augmentation on, images as stored
integers until ``to_device`` makes them floats) with 0, 1 and 2 worker processes
against the samples/s of one ``tst_vit_tiny`` MultiMAE training step at 224² (the step of
``bench pretrain``, batch 32, one torch thread): ``ratio_loader_over_step`` uses 1 worker, target >= 3.

    .venv/bin/python -m bench data      # -> runs/bench/data.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from tst.augment import AlignedAugment
from tst.dataset import ShardDataset
from tst.loader import PositionPlan, load, to_device

SIZE, FRAMES, ROUNDS, BATCH = 224, 64, 7, 32
MODALITIES = ["rgb", "depth", "normal"]


def _collect(out: Path) -> Path:
    tst = str(Path(sys.executable).with_name("tst"))
    cmd = [tst, "collect", "scene=synth", f"frames={FRAMES}", f"resolution={SIZE}", "shard_size=32", "logger=none",
           "progress=false", f"out={out}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return out


def _per_sample_ms(fn, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per sample: CPU time is what one core spends, whatever else the machine runs."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - c0) / n * 1e3, (time.perf_counter() - t0) / n * 1e3


def _decode_times(split: Path) -> dict:
    plain = ShardDataset(split, MODALITIES)
    aug = ShardDataset(split, MODALITIES, augment=AlignedAugment(SIZE, (0.5, 1.0), 0.5, seed=0))
    members = []  # the three members' bytes of every sample, read once
    for shard, _, index in plain.index:
        data = shard.read_bytes()
        members.append([data[o:o + s] for suffix, (o, s) in index.items() if suffix.split(".")[0] in MODALITIES])

    def bound(i: int) -> None:
        for m in members[i]:
            cv2.imdecode(np.frombuffer(m, np.uint8), cv2.IMREAD_UNCHANGED)

    n, cpu, wall = len(plain), {"bound_ms": [], "decode_ms": [], "decode_aug_ms": []}, {}
    for r in range(ROUNDS):
        for key, fn in (("bound_ms", bound), ("decode_ms", lambda i: plain[i]),
                        ("decode_aug_ms", lambda i, r=r: aug[(i, r)])):
            c, w = _per_sample_ms(fn, n)
            cpu[key].append(c)
            wall.setdefault(key.replace("_ms", "_wall_ms"), []).append(w)
    return {k: round(statistics.median(v), 3) for k, v in {**cpu, **wall}.items()} | {
        f"{k}_rounds": [round(x, 3) for x in v] for k, v in cpu.items()}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _loader_sps(split: Path, workers: int, steps: int = 12) -> tuple[float, float]:
    """(samples/s, CPU ms per sample in the loading processes): the second says what a quiet core gives."""
    ds = ShardDataset(split, MODALITIES, augment=AlignedAugment(SIZE, (0.5, 1.0), 0.5, seed=0), stored=True)
    batches = iter(load(ds, PositionPlan(len(ds), 0, BATCH, steps=steps + 1), workers=workers))
    next(batches)  # workers started and warm; the first batch is not timed
    pids = [w.pid for w in getattr(batches, "_workers", [])] or [os.getpid()]
    c0, t0 = sum(map(_cpu_s, pids)), time.perf_counter()
    for _ in range(steps):
        to_device(next(batches), "cpu")  # as pretrain reads: integers through the loader, floats here
    wall, cpu = time.perf_counter() - t0, sum(map(_cpu_s, pids)) - c0
    return steps * BATCH / wall, cpu / (steps * BATCH) * 1e3


def _step_sps(reps: int = 3) -> float:
    from bench.pretrain import _ours

    step = _ours(BATCH, torch.device("cpu"))
    step()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return BATCH / statistics.median(times)


def main(out_dir: Path) -> dict:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        split = _collect(Path(tmp) / "split")
        result: dict = {"config": {"image_size": SIZE, "frames": FRAMES, "modalities": MODALITIES, "rounds": ROUNDS,
                                   "batch": BATCH, "cpus": os.cpu_count(), "torch_threads": 1}}
        result.update(_decode_times(split))
        print(f"data: per sample on one core: bound (cv2.imdecode x3) {result['bound_ms']:.2f} ms, decode "
              f"{result['decode_ms']:.2f} ms, decode + aligned augment {result['decode_aug_ms']:.2f} ms "
              f"(target <= 3)", flush=True)
        loaders = {str(w): _loader_sps(split, w) for w in (0, 1, 2)}
        result["loader_sps"] = {w: round(sps, 1) for w, (sps, _) in loaders.items()}
        result["loader_cpu_ms_per_sample"] = {w: round(ms, 2) for w, (_, ms) in loaders.items()}
    result["step_sps"] = round(_step_sps(), 2)
    result["ratio_loader_over_step"] = round(result["loader_sps"]["1"] / result["step_sps"], 2)
    print(f"data: loader samples/s with 0/1/2 workers {result['loader_sps']} (CPU ms per sample in the loading "
          f"processes {result['loader_cpu_ms_per_sample']}); tst_vit_tiny 224² step "
          f"{result['step_sps']} samples/s -> ratio (1 worker) {result['ratio_loader_over_step']} (target >= 3)",
          flush=True)
    result["note"] = ("ms per sample on one core (process CPU time; *_wall_ms: wall clock), medians over rounds "
                      "that alternate bound/decode/decode+aug; "
                      "bound = bare cv2.imdecode of the rgb, depth and normal PNGs; loader batch 32 with the "
                      "augmentation, first batch untimed; loader_cpu_ms_per_sample = CPU time of the loading "
                      "processes (the workers, or this one with 0) per sample, so 1000 / it is what one quiet core "
                      "loads per second; step = bench pretrain's tst_vit_tiny MultiMAE step")
    (Path(out_dir) / "data.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
