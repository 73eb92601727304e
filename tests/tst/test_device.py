"""Device selection of the stages (tst.distributed.setup), checked on CPU with CUDA faked, so the first
GPU run picks cuda:LOCAL_RANK and never fails on it."""

import pytest
import torch

from tst import distributed as dist


def test_auto_picks_this_ranks_gpu_when_cuda_is_there(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # one process: no process group to join
    info = dist.setup("auto")
    assert info.device == torch.device("cuda", 1) and chosen == [torch.device("cuda", 1)]
    assert info.world_size == 1 and not info.enabled and info.is_main


def test_auto_is_cpu_without_cuda_and_bad_names_fail_with_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.setup("auto").device == torch.device("cpu")
    with pytest.raises(RuntimeError, match="device=cpu or device=auto"):
        dist.setup("cuda")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        dist.setup("gpu")
