"""bench gpu end to end at toy sizes on the CPU: every step of the GPU script runs, so the first GPU
run does not fail on a typo (the CUDA-only numbers are None here)."""

import json

import pytest
import torch

from bench import gpu


def test_peak_table_matches_device_names():
    assert gpu.peak_tflops("NVIDIA H200") == 989.0 and gpu.peak_tflops("NVIDIA L40S") == 362.0
    assert gpu.peak_tflops("NVIDIA L4") == 121.0 and gpu.peak_tflops("Some Future GPU") is None


@pytest.mark.slow
def test_gpu_script_runs_every_step_at_toy_sizes_on_cpu(tmp_path):
    torch.set_num_threads(1)
    res = gpu.run_all(tmp_path, tmp_path / "work", "cpu", smoke=True)
    saved = json.loads((tmp_path / "gpu.json").read_text())
    assert saved["pretrain"]["eager"]["samples_per_s"] > 0 and 0 <= saved["data_wait_fraction"] < 1
    assert saved["pretrain"]["eager"]["tflops_per_step"] > 0 and saved["mfu"] is None  # no GPU peak on CPU
    assert saved["ddp"]["processes"] == 1 and saved["ddp"]["samples_per_s"] > 0
    assert {"semseg", "det", "caption", "deploy"} <= set(saved["transfer"])
    assert "semseg/mIoU" in saved["transfer"]["deploy"]
    assert set(res["perception"]["ms_per_view"]) >= {"semseg", "det", "caption", "all_heads_call"}
