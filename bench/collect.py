"""Collect speed and memory, measured side by side in one run (issue 3 §7), written to collect.json.

- ``ratio``: end-to-end frames/s of a collection (render + encode + write shards, the default
  settings: one process, all cores for the ray cast, PNG encoding overlapped in a thread pool) over
  frames/s of the raw ``cast_rays`` call alone on the same rays with all cores. Target >= 0.50.
- ``scaling_2workers``: frames/s with 2 worker processes x 1 render thread over 1 such worker
  (a process rendering with 1 thread and encoding inline), timed once the pools are started and
  warm (steady state: what scales to long runs and clusters). Target >= 1.7.
  ``scaling_2workers_cold`` includes process start-up (forkserver, renderer build) in both.
- ``rss_10k_over_1k``: peak RSS of a real ``tst collect`` child of 10,000 frames over one of
  1,000 frames at 32x32. Target <= ~1 (memory is flat in the number of frames).

Same scene (synth apartment seed 0), same planned poses and 256x256 frames for the speed numbers.
On a machine shared with other work the absolute numbers move; the ratios are taken from runs
interleaved in time to keep them comparable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tst.collect.collector import CollectJob, WorkerPool, collect
from tst.envs.camera import Intrinsics
from tst.envs.freespace import FreeSpace
from tst.envs.policies.random import RandomPolicy
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.envs.synth.generator import generate_apartment
from tst.modalities import SENSOR_MODALITIES

RESOLUTION = 256
FRAMES = 96  # per end-to-end measurement
SHARD = 16  # 6 shards: enough for 2 workers to share evenly
ROUNDS = 3  # interleaved rounds of every measurement; medians of the per-round ratios are reported


def _job(out: Path, scene, poses: np.ndarray, intr: Intrinsics) -> CollectJob:
    return CollectJob(split_dir=out, split="pretrain", scenes=[scene], poses=poses,
                      scene_index=np.zeros(len(poses), int), intrinsics=intr, modalities=SENSOR_MODALITIES,
                      shard_size=SHARD)


def _collect_fps(tmp: Path, scene, poses, intr, **kw) -> float:
    out = Path(tempfile.mkdtemp(dir=tmp))
    job = _job(out, scene, poses, intr)
    t0 = time.perf_counter()
    n = collect(job, Open3DRenderer, list(range(job.num_shards)), **kw)
    dt = time.perf_counter() - t0
    shutil.rmtree(out)
    return n / dt


def _pool_fps(tmp: Path, scene, poses, intr, workers: int) -> float:
    """Steady-state frames/s of ``workers`` warm worker processes (start-up not timed)."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    job = _job(out, scene, poses, intr)
    with WorkerPool(job, Open3DRenderer, workers, encode_threads=0) as pool:
        pool.warm()
        t0 = time.perf_counter()
        n = pool.run(range(job.num_shards))
        dt = time.perf_counter() - t0
    shutil.rmtree(out)
    return n / dt


def _raw_cast_fps(scene, poses, intr) -> float:
    r = Open3DRenderer(scene, threads=0)
    rays = [r.make_rays(intr, p) for p in poses]  # built outside the timing: only the cast counts
    t0 = time.perf_counter()
    for ray in rays:
        r.cast_rays(ray)
    return len(rays) / (time.perf_counter() - t0)


def _peak_rss_mb(tmp: Path, frames: int) -> float:
    """Peak RSS (MiB) of a real `tst collect` child, read by a fresh parent so runs do not mix."""
    out = tmp / f"rss{frames}"
    tst = str(Path(sys.executable).parent / "tst")
    cmd = [tst, "collect", "scene=synth", f"frames={frames}", "resolution=32", "shard_size=256", "logger=none",
           "progress=false", f"out={out}"]
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)")
    res = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, check=True)
    kib = int(res.stdout.strip().splitlines()[-1])
    if kib < 0:
        raise RuntimeError(f"tst collect frames={frames} failed:\n{res.stderr[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    return kib / 1024.0


def main(out_dir: Path) -> dict:
    scene = generate_apartment(seed=0)
    intr = Intrinsics.from_fov(RESOLUTION, RESOLUTION, 90.0)
    poses = np.stack(RandomPolicy(scene, FreeSpace(scene)).plan(FRAMES, seed=0))  # [N, 4, 4]
    tmp = Path(tempfile.mkdtemp(prefix="tst-bench-collect-"))
    fps: dict[str, list[float]] = {k: [] for k in ("raw", "full", "one", "two", "one_cold", "two_cold")}
    try:
        for _ in range(ROUNDS):  # each ratio from measurements adjacent in time: load hits both alike
            before = _raw_cast_fps(scene, poses, intr)  # the raw cast brackets the full run
            fps["full"].append(_collect_fps(tmp, scene, poses, intr, workers=1, render_threads=0,
                                            encode_threads=min(4, os.cpu_count() or 1)))
            fps["raw"].append((before + _raw_cast_fps(scene, poses, intr)) / 2)
            fps["one"].append(_pool_fps(tmp, scene, poses, intr, 1))
            fps["two"].append(_pool_fps(tmp, scene, poses, intr, 2))
            for name, w in (("one_cold", 1), ("two_cold", 2)):
                fps[name].append(_collect_fps(tmp, scene, poses, intr, workers=w, in_process=False, encode_threads=0))
        rss_1k = _peak_rss_mb(tmp, 1000)
        rss_10k = _peak_rss_mb(tmp, 10000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(key: str) -> float:
        return round(float(np.median(fps[key])), 2)

    def ratio(a: str, b: str) -> float:  # median over rounds of the per-round ratio
        return round(float(np.median(np.array(fps[a]) / np.array(fps[b]))), 3)

    result = {
        "resolution": RESOLUTION, "frames": FRAMES, "rounds": ROUNDS, "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "raw_cast_fps": med("raw"), "full_fps": med("full"), "ratio": ratio("full", "raw"),
        "one_worker_fps": med("one"), "two_workers_fps": med("two"), "scaling_2workers": ratio("two", "one"),
        "one_worker_cold_fps": med("one_cold"), "two_workers_cold_fps": med("two_cold"),
        "scaling_2workers_cold": ratio("two_cold", "one_cold"),
        "per_round": {k: [round(v, 2) for v in vals] for k, vals in fps.items()},
        "rss_1k_mb": round(rss_1k, 1), "rss_10k_mb": round(rss_10k, 1),
        "rss_10k_over_1k": round(rss_10k / rss_1k, 3),
        "targets": {"ratio": 0.5, "scaling_2workers": 1.7, "rss_10k_over_1k": 1.0},
    }
    (out_dir / "collect.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"collect: full {result['full_fps']} fps vs raw cast {result['raw_cast_fps']} fps -> ratio "
          f"{result['ratio']} (target >= 0.50)")
    print(f"collect: 2 workers {result['two_workers_fps']} fps vs 1 worker {result['one_worker_fps']} fps -> "
          f"scaling_2workers {result['scaling_2workers']} (target >= 1.7; with start-up: "
          f"{result['scaling_2workers_cold']})")
    print(f"collect: peak RSS 10k frames {result['rss_10k_mb']} MiB vs 1k {result['rss_1k_mb']} MiB -> "
          f"rss_10k_over_1k {result['rss_10k_over_1k']} (load avg {result['load_avg_1min']} on "
          f"{result['cpus']} cores)")
    return result


if __name__ == "__main__":
    main(Path("runs/bench"))
