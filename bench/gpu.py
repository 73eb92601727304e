"""The GPU run (issue 13 §3): one script, under 8 minutes on one CUDA machine.

    .venv/bin/python -m bench gpu      # -> runs/bench/gpu.json; prints "skipped" without a GPU

1. Data: collects a 224² pretrain split, an eval split and an external split (synth apartments).
2. Pretraining step at ViT-B/16 224² (``tst_vit_base``, rgb+depth+normal MultiMAE, bf16 autocast,
   fused AdamW), fed by ``tst.loader`` (workers=auto, pinned memory): samples/s, model FLOPs
   utilisation against the GPU's bf16 dense peak (table below; the measured bf16 matmul rate beside
   it), peak memory, and the fraction of step time spent waiting for data. Eager and
   ``torch.compile``. Targets: MFU >= 40 %, data wait < 5 %.
3. ``tst pretrain`` launched by ``torchrun`` over every GPU present (DDP over NCCL when there are
   two or more; one process otherwise), its samples/s from metrics.json.
4. ``tst transfer`` for semseg, det and caption from that export, then ``tst deploy`` of the three
   heads on the eval split: metrics and images/s.
5. The perception plugin's latency on one 224² view per head (median ms).

``smoke=True`` runs every step at toy sizes on whatever device is given (the CPU test of this
script, so the first GPU run does not fail on a typo).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tst.device import resolve_device

# dense bf16 tensor-core peaks, TFLOP/s (vendor data sheets; SXM parts)
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0,
                    "L40": 181.0, "A6000": 155.0, "L4": 121.0, "A10": 125.0, "4090": 165.0, "V100": 125.0}
MODALITIES = ["rgb", "depth", "normal"]


def peak_tflops(name: str) -> float | None:
    """The bf16 dense peak of a GPU from its ``torch.cuda.get_device_name``; None when unknown."""
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):  # "L40S" before "L40" before "L4"
        if key in name.upper():
            return PEAK_BF16_TFLOPS[key]
    return None


def _settings(smoke: bool) -> dict:
    if smoke:
        return dict(size=32, frames=8, model="tst_vit_test", patch=8, batch=4, steps=3, warmup=1, transfer_steps=2,
                    ddp_steps=2, latency_reps=3, compile=False)
    return dict(size=224, frames=1024, model="tst_vit_base", patch=16, batch=256, steps=30, warmup=5,
                transfer_steps=100, ddp_steps=30, latency_reps=50, compile=True)


def _stage(stage: str, overrides: list[str]) -> dict:
    from tst.cli import STAGES
    from tst.pipeline import compose_config

    module, fn = STAGES[stage][1].split(":")
    run = getattr(__import__(module, fromlist=[fn]), fn)
    return run(compose_config(stage, overrides))


def collect_splits(root: Path, s: dict) -> dict[str, Path]:
    workers = max(1, min(8, (os.cpu_count() or 2) // 2))
    common = [f"resolution={s['size']}", "logger=none", "progress=false", f"workers={workers}", "shard_size=64"]
    paths = {k: root / k for k in ("pretrain", "eval", "external")}
    _stage("collect", [f"out={paths['pretrain']}", f"frames={s['frames']}", "split=pretrain", *common])
    _stage("collect", [f"out={paths['eval']}", f"frames={max(8, s['frames'] // 8)}", "split=eval", "extras=[caption]",
                       *common])
    _stage("collect", [f"out={paths['external']}", f"frames={max(16, s['frames'] // 4)}", "split=external",
                       "extras=[caption]", *common])
    return paths


def pretrain_speed(split: Path, device: torch.device, s: dict, compile: bool) -> dict:
    """Steps of the real objective fed by the real loader; data wait = time blocked on the next batch."""
    from bench.pretrain import _matmul_gflops, _step_flops
    from tst.augment import AlignedAugment
    from tst.dataset import ShardDataset
    from tst.loader import PositionPlan, load, resolve_workers, to_device
    from tst.models.vit import create_encoder
    from tst.precision import autocast_for
    from tst.pretrain.masking import DirichletMasker
    from tst.pretrain.objective import MultiMAE
    from tst.pretrain.optim import make_optimizer

    size, batch = s["size"], s["batch"]
    torch.manual_seed(0)
    model = MultiMAE(create_encoder(s["model"], modalities=MODALITIES, img_size=size, patch_size=s["patch"]),
                     256, 2, 8).to(device)
    opt = make_optimizer(model, 1e-4, 0.05, (0.9, 0.95))
    grid = (size // s["patch"]) ** 2
    masker = DirichletMasker(model.tokens_per_modality(size, size), max(1, round(0.5 * grid)), 1.0, seed=0)
    autocast = autocast_for("auto", device)
    fwd = torch.compile(model) if compile else model
    ds = ShardDataset(split, MODALITIES, augment=AlignedAugment(size, (0.5, 1.0), 0.5, seed=0), stored=True)
    total = s["warmup"] + s["steps"]
    batches = iter(load(ds, PositionPlan(len(ds), 0, batch, steps=total), "auto", device))

    def step(b: dict) -> None:
        with autocast():
            out = fwd({m: b[m] for m in MODALITIES}, masker(batch).to(device))
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    waits, times, first = [], [], None
    for k in range(total):
        t0 = time.perf_counter()
        b = to_device(next(batches), device)
        t1 = time.perf_counter()
        step(b)
        sync()
        if k >= s["warmup"]:
            waits.append(t1 - t0)
            times.append(time.perf_counter() - t0)
        first = first or b
        if k == s["warmup"] - 1 and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
    flops = _step_flops(lambda: step(first)) if not compile else _step_flops(lambda: _eager_step(model, first))
    sec = statistics.median(times)
    peak = peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    matmul = _matmul_gflops(device, dtype, 8192 if device.type == "cuda" else 512)[0]
    achieved = flops / sec / 1e12
    return {"model": s["model"], "image_size": size, "batch": batch, "compile": compile,
            "workers": resolve_workers("auto", device=device), "samples_per_s": round(batch / sec, 1), "step_ms": round(sec * 1e3, 2),
            "tflops_per_step": round(flops / 1e12, 3), "achieved_tflops": round(achieved, 2),
            "peak_bf16_tflops": peak, "mfu": round(achieved / peak, 4) if peak else None,
            "matmul_tflops": round(matmul / 1e3, 2), "fraction_of_matmul_rate": round(achieved / (matmul / 1e3), 4),
            "data_wait_fraction": round(sum(waits) / sum(times), 4),
            "peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None}


def _eager_step(model, b: dict) -> None:
    """FLOPs are counted on the eager model (the counter cannot see inside compiled graphs)."""
    from tst.pretrain.masking import DirichletMasker

    size = b["rgb"].shape[-1]
    masker = DirichletMasker(model.tokens_per_modality(size, size), max(1, round(0.5 * (size // model.patch_size) ** 2)),
                             1.0, seed=0)
    with torch.autocast(b["rgb"].device.type, dtype=torch.bfloat16, enabled=b["rgb"].is_cuda):
        out = model({m: b[m] for m in MODALITIES}, masker(b["rgb"].shape[0]).to(b["rgb"].device))
    out["loss"].backward()


def ddp_pretrain(split: Path, out: Path, s: dict, device: str) -> dict:
    """``tst pretrain`` through torchrun on every GPU present; a short run, its own samples/s."""
    gpus = torch.cuda.device_count() if device == "cuda" else 1
    per = max(1, s["batch"] // 4 // gpus) * gpus
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    cmd = [torchrun, "--standalone", f"--nproc_per_node={gpus}", "-m", "tst.cli", "pretrain", f"data={split}",
           f"model={s['model']}", f"steps={s['ddp_steps']}", f"batch_size={per}", f"image_size={s['size']}",
           "logger=none", "preview_every=0", f"ckpt_every={s['ddp_steps']}", "warmup=1", f"device={device}",
           f"out={out}", "overwrite=true"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-1500:]}\n{res.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"processes": gpus, "ddp": gpus > 1, "batch": per, "seconds": round(time.perf_counter() - t0, 1),
            "samples_per_s": metrics.get("pretrain/samples_per_s"), "export": str(out / "export")}


def transfer_and_deploy(paths: dict[str, Path], init: str, root: Path, s: dict, device: str) -> dict:
    common = [f"data={paths['external']}", f"vocab={paths['eval']}", f"init={init}", f"model={s['model']}",
              f"image_size={s['size']}", f"steps={s['transfer_steps']}", "logger=none", f"device={device}",
              "warmup=1", "batch_size=8", "eval_batch_size=8", "val_fraction=0.25"]
    extra = {"semseg": [], "det": ["task.min_pixels=4"], "caption": ["task.decoding=greedy", "task.use_java=false"]}
    out: dict = {}
    for task, more in extra.items():
        t0 = time.perf_counter()
        res = _stage("transfer", [f"task={task}", f"out={root / task}", *common, *more])
        out[task] = {"seconds": round(time.perf_counter() - t0, 1),
                     **{k: v for k, v in res.items() if isinstance(v, (int, float)) and "/IoU/" not in k}}
    t0 = time.perf_counter()
    res = _stage("deploy", [f"heads=[{','.join(str(root / t) for t in extra)}]", f"data={paths['eval']}",
                            f"out={root / 'deploy'}", "logger=none", f"device={device}", "caption_use_java=false"])
    out["deploy"] = {"seconds": round(time.perf_counter() - t0, 1),
                     **{k: v for k, v in res.items() if isinstance(v, (int, float)) and "/IoU/" not in k}}
    return out


def perception_latency(heads: list[Path], size: int, device: str, reps: int) -> dict:
    from tst import Perception

    p = Perception.from_run(heads, device=device)
    view = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    out = {}
    for name in p.tasks:
        rgb = torch.from_numpy(view).permute(2, 0, 1)[None].float() / 255
        p.predict(name, rgb)  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            p.predict(name, rgb)
            if p.device.type == "cuda":
                torch.cuda.synchronize(p.device)
            times.append(time.perf_counter() - t0)
        out[name] = round(statistics.median(times) * 1e3, 2)
    t0 = time.perf_counter()
    p(view)  # the agent-facing call: every head on one observation
    out["all_heads_call"] = round((time.perf_counter() - t0) * 1e3, 2)
    return {"ms_per_view": out, "device": str(p.device)}


def run_all(out_dir: Path, work: Path, device: str, smoke: bool = False) -> dict:
    s = _settings(smoke)
    t0 = time.perf_counter()
    result: dict = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "smoke": smoke,
                    "settings": s, "torch": torch.__version__}
    paths = collect_splits(work / "data", s)
    result["collect_s"] = round(time.perf_counter() - t0, 1)
    dev = resolve_device(device)
    result["pretrain"] = {"eager": pretrain_speed(paths["pretrain"], dev, s, compile=False)}
    if s["compile"]:
        result["pretrain"]["compiled"] = pretrain_speed(paths["pretrain"], dev, s, compile=True)
    best = max(result["pretrain"].values(), key=lambda r: r["samples_per_s"])
    result.update(mfu=best["mfu"], data_wait_fraction=best["data_wait_fraction"],
                  targets={"mfu": ">= 0.40", "data_wait_fraction": "< 0.05"})
    result["ddp"] = ddp_pretrain(paths["pretrain"], work / "ddp", s, device)
    result["transfer"] = transfer_and_deploy(paths, result["ddp"]["export"], work / "transfer", s, device)
    result["perception"] = perception_latency([work / "transfer" / t for t in ("semseg", "det", "caption")],
                                              s["size"], device, s["latency_reps"])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    (Path(out_dir) / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"gpu: {result['device']}: pretrain {best['model']} {best['samples_per_s']} samples/s, MFU {best['mfu']}, "
          f"data wait {best['data_wait_fraction']:.1%}, peak {best['peak_memory_mb']} MiB; "
          f"ddp x{result['ddp']['processes']} {result['ddp']['samples_per_s']} samples/s; "
          f"perception {result['perception']['ms_per_view']} ms; {result['seconds']} s in all", flush=True)
    return result


def main(out_dir: Path) -> dict:
    if not torch.cuda.is_available():
        print("gpu: skipped (torch sees no CUDA device); run `python -m bench gpu` on a GPU machine", flush=True)
        return {"skipped": "no CUDA device"}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return run_all(out_dir, Path(tmp), "cuda")
