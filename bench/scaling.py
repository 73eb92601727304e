"""Collection time vs frames and pretraining time vs steps: both should grow linearly (no per-frame or
per-step cost that creeps up with the run's length), so a straight line fits them with R² near 1 and
its slope is the marginal cost (seconds per frame / per step); the intercept is the fixed start-up.

Each stage runs in this process through its ``run(cfg)`` at a few sizes on the default procedural
space (64², tst_vit_test), sizes measured in an interleaved order (the machine is shared, so a slow
spell is not all blamed on the largest size).

    .venv/bin/python -m bench scaling      # -> runs/bench/scaling.json + runs/bench/scaling.png
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tst.pipeline import compose_config

FRAMES = (128, 256, 512, 1024)
STEPS = (25, 50, 100, 200)
ORDER = (0, 3, 1, 2)  # interleaved: smallest, largest, then the middle ones
COMMON = ["logger=none", "resolution=64"]
PRETRAIN = ["logger=none", "batch_size=8", "warmup=2", "preview_every=0", "log_every=1000", "image_size=64",
            "objective.dec_dim=64", "objective.dec_depth=1", "objective.dec_heads=2"]


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line y = slope * x + intercept and its R²."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}


def _timed(stage: str, overrides: list[str]) -> float:
    from tst.cli import load_stage

    cfg = compose_config(stage, overrides)
    t0 = time.perf_counter()
    load_stage(stage)(cfg)
    return time.perf_counter() - t0


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, (key, xlabel) in zip(axes, (("collect", "frames"), ("pretrain", "steps"))):
        r = result[key]
        xs = np.asarray(r["sizes"], float)
        ax.plot(xs, r["seconds"], "o", label="measured")
        ax.plot(xs, r["fit"]["slope"] * xs + r["fit"]["intercept"], "-",
                label=f"{r['fit']['slope']:.3g} s/{xlabel[:-1]}, R² {r['fit']['r2']:.3f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds")
        ax.set_title(f"{key} time vs {xlabel}", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the demo runs stages: one thread is immune to a busy shared machine
    try:
        return _measure(out_dir)
    finally:
        torch.set_num_threads(threads)


def _measure(out_dir: Path) -> dict:
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="tst-scaling-") as tmp:
        tmp = Path(tmp)
        data = tmp / "pretrain_data"  # the pretraining runs read one split, collected once
        _timed("collect", [*COMMON, "split=pretrain", f"frames={max(FRAMES)}", f"out={data}", "progress=false"])
        _timed("pretrain", [*PRETRAIN, f"data={data}", "steps=2", f"out={tmp / 'warmup'}"])  # first-call costs
        seconds = {"collect": {}, "pretrain": {}}
        for i in ORDER:
            f, s = FRAMES[i], STEPS[i]
            seconds["collect"][f] = _timed("collect", [*COMMON, "split=pretrain", f"frames={f}", "progress=false",
                                                       f"out={tmp / f'c{f}'}", "scene.seed=1"])
            seconds["pretrain"][s] = _timed("pretrain", [*PRETRAIN, f"data={data}", f"steps={s}", f"out={tmp / f'p{s}'}"])
            print(f"frames {f}: collect {seconds['collect'][f]:.2f} s | steps {s}: pretrain "
                  f"{seconds['pretrain'][s]:.2f} s", flush=True)
    for key, sizes in (("collect", FRAMES), ("pretrain", STEPS)):
        ys = [seconds[key][n] for n in sizes]
        result[key] = {"sizes": list(sizes), "seconds": [round(y, 3) for y in ys], "fit": linear_fit(list(sizes), ys)}
        fit = result[key]["fit"]
        print(f"{key}: {fit['slope']:.4f} s per {'frame' if key == 'collect' else 'step'} + {fit['intercept']:.2f} s, "
              f"R² = {fit['r2']:.4f}", flush=True)
    _plot(result, out_dir / "scaling.png")
    result["plot"] = str(out_dir / "scaling.png")
    (out_dir / "scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
