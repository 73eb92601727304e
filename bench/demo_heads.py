"""The demo's cheaper head choices, measured side by side on the CPU (what justified each).

At the demo's scale (``tst_vit_test``, 64 px, one thread) the heads, not the encoder, are the compute:
- RoIAlign: ``separable_roi_align`` (two matmuls) against torchvision's op, forward + backward on one
  detector level as the box head sees it (8 images, 64 channels, 32 x 32, 128 RoIs each);
- a det training step (batch 8) with either RoIAlign, and with the demo's 500 / 300 RPN proposals
  instead of torchvision's 2000 / 1000;
- a semseg training step (batch 16) with UPerNet's 3x3 fusion and with the demo's 1x1 fusion;
- the demo's semseg step and the recipe's (``tst_vit_cpu``, 3x3 fusion) with the head's bilinear resizing
  by ``F.interpolate`` and by ``separable_resize`` (two matmuls, the default).
Every pair is timed interleaved (the shared machine's load hits both alike), median of the repeats.

    .venv/bin/python -m bench demo_heads      # -> runs/bench/demo_heads.json
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import roi_align

from bench.deploy import task_defaults
from tst.models.vit import create_encoder
from tst.transfer import seg_head
from tst.transfer.det_model import build_detector
from tst.transfer.seg_head import SegModel, build_seg_head
from tst.transfer.separable_roi_align import separable_roi_align

SIZE, CLASSES, REPEATS, WARMUP = 64, 30, 7, 2


def interleaved(steps: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Median seconds per call of each step, the steps called in turn."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for i in range(WARMUP + REPEATS):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            if i >= WARMUP:
                times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def roi_align_steps() -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(0)
    feature = torch.randn(8, 64, 32, 32, generator=g, requires_grad=True)
    xy = torch.rand(1024, 2, generator=g) * 56
    rois = torch.cat([torch.arange(8).repeat_interleave(128)[:, None].float(), xy,
                      (xy + torch.rand(1024, 2, generator=g) * 16 + 1).clamp(max=SIZE)], dim=1)

    def step(op):
        return lambda: op(feature, rois, (7, 7), 0.5, 2).sum().backward()

    return {"torchvision": step(roi_align), "separable": step(separable_roi_align)}


def det_steps() -> dict[str, Callable[[], None]]:
    kwargs = task_defaults("det")["model_kwargs"]  # the sweeps' head: torchvision's 2000 / 1000 proposals
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, SIZE, SIZE, generator=g) for _ in range(8)]
    targets = []
    for _ in images:
        xy = torch.rand(6, 2, generator=g) * 44
        targets.append({"boxes": torch.cat([xy, xy + torch.rand(6, 2, generator=g) * 16 + 4], dim=1),
                        "labels": torch.randint(1, CLASSES + 1, (6,), generator=g)})
    demo = dict(rpn_pre_nms_top_n_train=500, rpn_post_nms_top_n_train=500)

    def step(**extra):
        torch.manual_seed(0)
        model = build_detector(create_encoder("tst_vit_test"), CLASSES, SIZE, **{**kwargs, **extra}).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def run():
            opt.zero_grad(set_to_none=True)
            sum(model(images, targets).values()).backward()
            opt.step()
        return run

    return {"torchvision_2000": step(roi_align="torchvision"), "separable_2000": step(roi_align="separable"),
            "separable_500": step(roi_align="separable", **demo)}


def _interpolate(x: torch.Tensor, size) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _semseg_step(rgb: torch.Tensor, labels: torch.Tensor, model_name: str, fuse_kernel: int,
                 resize: Callable | None = None) -> Callable[[], None]:
    """One UPerNet training step; ``resize`` swaps the head's bilinear resizing in for the call."""
    torch.manual_seed(0)
    enc = create_encoder(model_name)
    model = SegModel(enc, build_seg_head("uper", enc, CLASSES, channels=64, fuse_kernel=fuse_kernel))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    default = seg_head.bilinear_resize

    def run():
        seg_head.bilinear_resize = resize or default
        try:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(rgb), labels).backward()
            opt.step()
        finally:
            seg_head.bilinear_resize = default
    return run


def _semseg_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 3, SIZE, SIZE, generator=g), torch.randint(0, CLASSES, (16, SIZE, SIZE), generator=g)


def semseg_steps() -> dict[str, Callable[[], None]]:
    batch = _semseg_batch()
    return {"fuse_3x3": _semseg_step(*batch, "tst_vit_test", 3), "fuse_1x1": _semseg_step(*batch, "tst_vit_test", 1)}


def resize_steps() -> dict[str, Callable[[], None]]:
    """Semseg steps whose UPerNet head resizes by F.interpolate or by separable_resize (the default)."""
    batch = _semseg_batch()
    return {"demo_interpolate": _semseg_step(*batch, "tst_vit_test", 1, _interpolate),
            "demo_separable": _semseg_step(*batch, "tst_vit_test", 1),
            "recipe_interpolate": _semseg_step(*batch, "tst_vit_cpu", 3, _interpolate),
            "recipe_separable": _semseg_step(*batch, "tst_vit_cpu", 3)}


def main(out_dir: Path) -> dict:
    torch.set_num_threads(1)  # as the demo runs each stage
    roi, det, seg = interleaved(roi_align_steps()), interleaved(det_steps()), interleaved(semseg_steps())
    resize = interleaved(resize_steps())
    result = {
        "threads": 1, "image_size": SIZE, "repeats": REPEATS,
        "roi_align_s": roi, "roi_align_speedup": round(roi["torchvision"] / roi["separable"], 3),
        "det_step_s": det,
        "det_separable_speedup": round(det["torchvision_2000"] / det["separable_2000"], 3),
        "det_demo_speedup": round(det["torchvision_2000"] / det["separable_500"], 3),
        "semseg_step_s": seg, "semseg_fuse_1x1_speedup": round(seg["fuse_3x3"] / seg["fuse_1x1"], 3),
        "semseg_resize_step_s": resize,
        "semseg_separable_resize_speedup": round(resize["demo_interpolate"] / resize["demo_separable"], 3),
        "semseg_recipe_separable_resize_speedup": round(resize["recipe_interpolate"] / resize["recipe_separable"], 3),
    }
    print(f"demo_heads bench: RoIAlign fwd+bwd separable {result['roi_align_speedup']:.2f}x torchvision's; det step "
          f"{result['det_separable_speedup']:.2f}x with it, {result['det_demo_speedup']:.2f}x with 500 proposals too; "
          f"semseg step {result['semseg_fuse_1x1_speedup']:.2f}x with the 1x1 fusion; separable resizing: demo semseg step "
          f"{result['semseg_separable_resize_speedup']:.2f}x, recipe's {result['semseg_recipe_separable_resize_speedup']:.2f}x",
          flush=True)
    (out_dir / "demo_heads.json").write_text(json.dumps(result, indent=2))
    return result
