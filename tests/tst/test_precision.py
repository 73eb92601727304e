"""The CUDA precision choice, checked on CPU so the first GPU run cannot fail on it."""

import pytest
import torch

from tst.precision import autocast_dtype, autocast_for


def test_bf16_on_cuda_by_default_and_fp32_on_cpu():
    assert autocast_dtype("auto", "cuda") is torch.bfloat16
    assert autocast_dtype("auto", torch.device("cuda", 3)) is torch.bfloat16
    assert autocast_dtype("bf16", "cuda") is torch.bfloat16
    assert autocast_dtype("fp32", "cuda") is None
    assert autocast_dtype("auto", "cpu") is None and autocast_dtype("fp32", "cpu") is None
    with pytest.raises(ValueError, match="precision=fp32"):
        autocast_dtype("bf16", "cpu")
    with pytest.raises(ValueError, match="choose one of"):
        autocast_dtype("fp16", "cuda")


def test_the_context_is_a_real_autocast_for_the_device():
    ctx = autocast_for("auto", "cuda")()
    assert isinstance(ctx, torch.autocast) and ctx.device == "cuda" and ctx.fast_dtype == torch.bfloat16
    with autocast_for("auto", "cpu")():  # fp32: a no-op context
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
