"""Pretraining step speed: ours vs a straightforward reference MultiMAE step, side by side.

Both train the same architecture (ViT-Tiny encoder, 224², patch 16, rgb+depth+normal, 98 visible
tokens split by Dirichlet(1), per-modality decoders of width 256 with 2 blocks) with forward +
backward + AdamW. The reference is written the way the published MultiMAE code is: explicit
``softmax(q kᵀ) v`` attention, every patch of every modality embedded then gathered, the decoder
head applied to every token and the loss masked afterwards, ``torch.optim.AdamW`` with its
defaults. Steps are interleaved (ours, reference, ours, …) and medians reported, because the
machine is shared. Also: achieved GFLOP/s (FLOPs counted by ``FlopCounterMode``) against the
measured matmul rate, the ratio that rate would allow at all, and memory per sample early vs late
(it must not grow). On a machine with a GPU the same comparison runs on CUDA too, both sides under
the bf16 autocast ``tst pretrain`` uses there, with peak CUDA memory per sample.

    .venv/bin/python -m bench pretrain      # -> runs/bench/pretrain.json
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tst.models.adapters import sincos_pos_embed_2d
from tst.models.vit import create_encoder
from tst.pretrain.losses import patch_targets, prepare
from tst.pretrain.masking import DirichletMasker
from tst.pretrain.monitor import memory_mb
from tst.pretrain.objective import MultiMAE
from tst.pretrain.optim import make_optimizer

SIZE, PATCH, DIM, DEPTH, HEADS, VISIBLE = 224, 16, 192, 12, 3, 98
DEC_DIM, DEC_DEPTH, DEC_HEADS = 256, 2, 8
CHANNELS = {"rgb": 3, "depth": 1, "normal": 3}
BATCHES = (8, 32)
TIMED_STEPS = {8: 4, 32: 3}  # per implementation, after one warm-up step
MEMORY_STEPS = 6  # extra steps of ours alone at the small batch, RSS after each
# One intra-op thread by default: on a machine shared with other jobs, two torch threads
# spin-waiting on each other make step times swing 10x; both sides always use the same count.
THREADS = int(os.environ.get("TST_BENCH_THREADS", "1"))


# --------------------------------------------------------------------------- reference MultiMAE
class RefAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # [B, h, N, N]
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class RefCrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, dim * 2), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3)
        k, v = self.kv(ctx).reshape(b, ctx.shape[1], 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # [B, h, N, M]
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


def _mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


class RefBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), RefAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), _mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RefDecoder(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj_context = nn.Linear(DIM, DEC_DIM)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, DEC_DIM))
        self.task_emb = nn.Parameter(torch.zeros(1, 1, DEC_DIM))
        self.register_buffer("pos", sincos_pos_embed_2d(DEC_DIM, SIZE // PATCH, SIZE // PATCH)[None])
        self.query_norm, self.context_norm, self.out_norm = (nn.LayerNorm(DEC_DIM, eps=1e-6) for _ in range(3))
        self.cross, self.mlp = RefCrossAttention(DEC_DIM, DEC_HEADS), _mlp(DEC_DIM)
        self.blocks = nn.Sequential(*[RefBlock(DEC_DIM, DEC_HEADS) for _ in range(DEC_DEPTH)])
        self.norm = nn.LayerNorm(DEC_DIM, eps=1e-6)
        self.out = nn.Linear(DEC_DIM, channels * PATCH * PATCH)

    def forward(self, enc: torch.Tensor, ids_restore: torch.Tensor, start: int, n: int) -> torch.Tensor:
        ctx = self.proj_context(enc)  # [B, 1+V, D]
        b, total = ids_restore.shape
        tokens = torch.cat([ctx[:, 1:], self.mask_token.expand(b, total - ctx.shape[1] + 1, -1)], dim=1)
        tokens = tokens.gather(1, ids_restore[..., None].expand(-1, -1, DEC_DIM))  # unshuffle [B, N_all, D]
        q = tokens[:, start:start + n] + self.pos + self.task_emb  # [B, N, D]
        x = q + self.cross(self.query_norm(q), self.context_norm(ctx))
        x = x + self.mlp(self.out_norm(x))
        return self.out(self.norm(self.blocks(x)))  # [B, N, C*p*p] for every token


class RefMultiMAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.ModuleDict({m: nn.Conv2d(c, DIM, PATCH, PATCH) for m, c in CHANNELS.items()})
        self.register_buffer("pos", sincos_pos_embed_2d(DIM, SIZE // PATCH, SIZE // PATCH)[None])
        self.global_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.blocks = nn.Sequential(*[RefBlock(DIM, HEADS) for _ in range(DEPTH)])
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        self.decoders = nn.ModuleDict({m: RefDecoder(c) for m, c in CHANNELS.items()})

    def forward(self, inputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = torch.cat([self.embed[m](inputs[m]).flatten(2).transpose(1, 2) + self.pos for m in CHANNELS], 1)
        b, total, _ = tokens.shape
        n = total // len(CHANNELS)
        # Dirichlet split of the visible budget, then random tokens per modality (as published)
        dev = tokens.device
        share = torch.distributions.Dirichlet(torch.ones(len(CHANNELS))).sample((b,)).to(dev)  # [B, M]
        counts = (share * VISIBLE).round().long()
        noise = torch.rand(b, total, device=dev)
        keep = torch.cat([noise[:, i * n:(i + 1) * n].argsort(1).argsort(1) < counts[:, i:i + 1]
                          for i in range(len(CHANNELS))], 1)  # [B, N_all]
        ids_shuffle = torch.argsort((~keep).float() + torch.rand(b, total, device=dev), dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :VISIBLE]
        mask = torch.ones(b, total, device=dev).scatter(1, ids_keep, 0.0)  # 1 = masked
        x = tokens.gather(1, ids_keep[..., None].expand(-1, -1, DIM))
        x = self.norm(self.blocks(torch.cat([self.global_token.expand(b, -1, -1), x], 1)))
        loss = x.new_zeros(())
        for i, m in enumerate(CHANNELS):
            pred = self.decoders[m](x, ids_restore, i * n, n)  # [B, N, C*p*p]
            err = (pred - targets[m]).square() if m == "rgb" else (pred - targets[m]).abs()
            mm = mask[:, i * n:(i + 1) * n]
            loss = loss + (err.mean(-1) * mm).sum() / mm.sum()
        return loss


# --------------------------------------------------------------------------------- measuring
def _batch(b: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(b)
    depth = 0.5 + 4 * torch.rand(b, 1, SIZE, SIZE, generator=g)
    batch = {"rgb": torch.rand(b, 3, SIZE, SIZE, generator=g), "depth": depth,
             "normal": torch.rand(b, 3, SIZE, SIZE, generator=g) * 2 - 1}
    return {m: x.to(device) for m, x in batch.items()}


def _autocast(device: torch.device):
    """What ``tst pretrain`` runs under on this device (bf16 on CUDA, fp32 on CPU); both sides use it."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _ours(b: int, device: torch.device):
    torch.manual_seed(0)
    model = MultiMAE(create_encoder("tst_vit_tiny", modalities=tuple(CHANNELS)), DEC_DIM, DEC_DEPTH,
                     DEC_HEADS).to(device)
    opt = make_optimizer(model, 1e-4, 0.05, (0.9, 0.95))
    masker = DirichletMasker(model.tokens_per_modality(SIZE, SIZE), VISIBLE, 1.0, seed=0)
    batch = _batch(b, device)

    def step() -> None:
        with _autocast(device):
            out = model(batch, masker(b).to(device))
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _reference(b: int, device: torch.device):
    torch.manual_seed(0)
    model = RefMultiMAE().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    batch = _batch(b, device)

    def step() -> None:
        with _autocast(device):
            # the same input/target preparation as ours (ImageNet rgb, robust depth, patch-normalised
            # rgb targets), so only the model, masking and optimizer differ
            inputs, targets = {}, {}
            for m, x in batch.items():
                inputs[m], target, _ = prepare(m, x)
                targets[m], _ = patch_targets(m, target, None, PATCH)
            loss = model(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def _memory_mb(device: torch.device) -> float:
    """``tst pretrain``'s memory figure; on CUDA the peak since the previous call (one per step)."""
    mb = memory_mb(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return mb


def _matmul_gflops(device: torch.device, dtype: torch.dtype, n: int, reps: int = 10) -> tuple[float, float]:
    """Matmul rate (wall clock, CPU time) at the bench's thread count, in the step's precision."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    wall, cpu = [], []
    for _ in range(reps):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        a @ b
        _sync(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 2 * n**3 / statistics.median(wall) / 1e9, 2 * n**3 / statistics.median(cpu) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_flops(step) -> float:
    """FLOPs of one step. The math SDPA backend makes attention visible to the counter (it does
    not count the CPU flash kernel); the count is the same work either way."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        step()
    return float(counter.get_total_flops())


def _measure(device: torch.device) -> dict:
    """Ours vs the reference on one device at every batch size, plus the memory check."""
    cuda = device.type == "cuda"
    # the step's matmul precision: fp32 on CPU, bf16 under autocast on CUDA (bigger n to reach its peak)
    matmul, matmul_cpu = _matmul_gflops(device, torch.bfloat16 if cuda else torch.float32, 8192 if cuda else 1024)
    results: dict = {"device": torch.cuda.get_device_name(device) if cuda else "cpu",
                     "precision": "bf16 autocast" if cuda else "fp32", "matmul_gflops": matmul}
    per_batch = {}
    for b in BATCHES:
        ours, ref = _ours(b, device), _reference(b, device)
        flops, ref_flops = _step_flops(ours), _step_flops(ref)  # also the warm-up steps
        ours(), ref()
        _sync(device)
        mem = [_memory_mb(device)]
        t_ours, t_ref, c_ours, c_ref = [], [], [], []
        for _ in range(TIMED_STEPS[b] * (5 if cuda else 1)):
            for fn, wall, cpu in ((ours, t_ours, c_ours), (ref, t_ref, c_ref)):
                _sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                _sync(device)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            mem.append(_memory_mb(device))
        ours_sps, ref_sps = b / statistics.median(t_ours), b / statistics.median(t_ref)
        # ratio of adjacent steps (ours_i, ref_i ran back to back under the same load), then the median
        ratio = statistics.median(r / o for r, o in zip(t_ref, t_ours))
        ratio_cpu = statistics.median(r / o for r, o in zip(c_ref, c_ours))
        ref_gflops = ref_flops / statistics.median(t_ref) / 1e9
        row = {"ours_sps": ours_sps, "reference_sps": ref_sps, "ratio": ratio, "ratio_cpu_time": ratio_cpu,
               "gflops": flops / statistics.median(t_ours) / 1e9, "gflop_per_step": flops / 1e9,
               "reference_gflop_per_step": ref_flops / 1e9, "reference_gflops": ref_gflops,
               # the most any implementation of our FLOPs could gain over this reference if every
               # FLOP ran at the measured matmul rate
               "ratio_bound_at_matmul_rate": (ref_flops / ref_gflops) / (flops / matmul),
               "gflops_cpu_time": flops / statistics.median(c_ours) / 1e9,
               "mem_mb_per_sample_first": mem[0] / b, "mem_mb_per_sample_last": mem[-1] / b,
               "ours_s": t_ours, "reference_s": t_ref, "ours_cpu_s": c_ours, "reference_cpu_s": c_ref}
        per_batch[str(b)] = row
        print(f"[{results['device']}] batch {b:3d}: ours {ours_sps:7.2f} samples/s | reference {ref_sps:7.2f} samples/s"
              f" | ratio {ratio:.2f}x | {row['gflops']:.1f} GFLOP/s of {matmul:.1f} matmul (reference "
              f"{ref_gflops:.1f}, so at most {row['ratio_bound_at_matmul_rate']:.2f}x) | "
              f"{'peak CUDA' if cuda else 'RSS'} MiB/sample {mem[0] / b:.0f} -> {mem[-1] / b:.0f}", flush=True)
        del ref
        if b == BATCHES[0]:  # ours alone for more steps: memory per sample must stay flat
            growth = [_memory_mb(device) / b]
            for _ in range(MEMORY_STEPS):
                ours()
                _sync(device)
                growth.append(_memory_mb(device) / b)
            results["memory"] = {"batch": b, "mb_per_sample": growth, "growth_mb_per_sample": growth[-1] - growth[1],
                                 "measure": "peak CUDA allocation per step" if cuda else "process RSS"}
            print(f"memory: {results['memory']['measure']} per sample over {MEMORY_STEPS} more steps of ours: "
                  + " ".join(f"{m:.0f}" for m in growth) + " MiB", flush=True)
        del ours
    big = per_batch[str(BATCHES[-1])]
    results.update(per_batch=per_batch, ours_sps=big["ours_sps"], reference_sps=big["reference_sps"],
                   ratio=big["ratio"], gflops=big["gflops"], ratio_min=min(v["ratio"] for v in per_batch.values()),
                   ratio_bound_at_matmul_rate=big["ratio_bound_at_matmul_rate"])
    return results


def main(out_dir: Path) -> dict:
    """CPU always (the headline keys); CUDA too when a GPU is present (under ``"cuda"``)."""
    torch.set_num_threads(THREADS)
    cpu = _measure(torch.device("cpu"))
    results: dict = {"config": {"model": "tst_vit_tiny", "image_size": SIZE, "patch": PATCH,
                                "modalities": list(CHANNELS), "visible_tokens": VISIBLE,
                                "decoder": f"{DEC_DIM}x{DEC_DEPTH}", "batches": list(BATCHES),
                                "cpu_threads": torch.get_num_threads()}, **cpu}
    if torch.cuda.is_available():
        results["cuda"] = _measure(torch.device("cuda"))
    results["note"] = ("ours and the reference alternate step by step; sps are medians, ratio is the median of "
                       f"back-to-back step-time ratios; headline keys are CPU at batch {BATCHES[-1]}; FLOPs counted "
                       "with FlopCounterMode; ratio_bound_at_matmul_rate = reference step time / (our FLOPs at "
                       "the measured matmul rate)")
    (Path(out_dir) / "pretrain.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
