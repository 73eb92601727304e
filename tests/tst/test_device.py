"""Device selection: the one resolver (tst.device.resolve_device) and torchrun's setup
(tst.distributed.setup), checked on CPU with CUDA faked, so the first GPU run picks cuda:LOCAL_RANK
and never fails on it."""

import pytest
import torch

from tst import distributed as dist
from tst.device import DeviceError, resolve_device


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


def test_one_resolver_accepts_every_documented_form_on_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for spec in ("cuda", "cuda:0", "cuda:1"):  # no GPU here: refused, saying so and how to fix it
        with pytest.raises(DeviceError, match=rf"device='{spec}' but torch sees no CUDA device.*device=cpu or"):
            resolve_device(spec)
    for spec in ("gpu", "tpu", "cuda:", "cuda:x", "cuda1", "CPU", "", "cuda:-1"):
        with pytest.raises(ValueError, match=r"is invalid; choose auto, cpu or cuda \(or cuda:N"):
            resolve_device(spec)


def test_cuda_n_is_checked_against_the_gpus_torch_sees(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"'cuda:2' but torch sees 2 GPU\(s\) here \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_torchrun_takes_an_explicit_gpu_alone_but_refuses_it_for_several_ranks(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.setup("cuda:1").device == torch.device("cuda", 1) and chosen == [torch.device("cuda", 1)]
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DeviceError, match="torchrun started 2 processes.*use device=cuda or device=auto"):
        dist.setup("cuda:0")


def test_the_stages_and_the_plugin_use_the_one_resolver():
    from tst.transfer import perception
    from tst.transfer import run as transfer_run

    assert perception.resolve_device is resolve_device and dist.resolve_device is resolve_device
    assert transfer_run.resolve_device is resolve_device
