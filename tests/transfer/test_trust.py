"""`tst transfer` under faults: diverged weights are never saved, a resume logs every step once."""

import json

import pytest
from hydra import compose, initialize_config_dir

import tst.transfer.run as run_module
from tests.interrupt import run_killed_after_logging
from tests.transfer.synthetic import write_split
from tests.transfer.test_run import TASK_OVERRIDES
from tst.checkpoint import load_checkpoint
from tst.cli import config_dir
from tst.transfer.run import run


def _cfg(data, out, *extra):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="transfer", overrides=[
            "task=semseg", "task.head=linear", f"data={data}", f"out={out}", "logger=none", "batch_size=4",
            "eval_batch_size=4", "warmup=1", "log_every=1", "ckpt_every=2", "val_fraction=0.25", "lr=3e-3",
            "steps=5", *extra])


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("external") / "split", n=8)


def _steps(run_dir):
    return [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()
            if "train/loss" in line]


def test_a_resumed_run_logs_each_step_once(split, tmp_path, monkeypatch):
    # killed after logging step 3; the checkpoint is from step 2
    run_killed_after_logging(monkeypatch, run_module, lambda: run(_cfg(split, tmp_path / "run")))
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["step"] == 2
    run(_cfg(split, tmp_path / "run", "resume=true"))
    assert _steps(tmp_path / "run") == [1, 2, 3, 4, 5]


def test_diverged_weights_are_never_saved(split, tmp_path):
    # lr=1e3: the step-2 update itself makes the weights NaN (today they are checkpointed at step 2)
    with pytest.raises(FloatingPointError, match=r"non-finite weights after step 2.*lower lr"):
        run(_cfg(split, tmp_path / "run", "lr=1e3", "grad_clip=0", "layer_decay=1.0"))
    assert not (tmp_path / "run" / "head.pt").exists()
    ckpt = tmp_path / "run" / "ckpt.pt"
    if ckpt.exists():
        import torch

        assert all(torch.isfinite(v).all() for v in load_checkpoint(ckpt)["model"].values() if v.is_floating_point())


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(split, tmp_path, monkeypatch):
    """The detector samples anchors and proposals from torch's generator: a resume must continue its exact stream
    (a data loader that draws its seed from that generator after the restore shifted it, and the resumed head
    differed)."""
    import torch

    def det(out, *extra):
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name="transfer", overrides=[
                "task=det", f"data={split}", f"out={out}", "logger=none", "batch_size=4", "eval_batch_size=4",
                "warmup=1", "log_every=1", "ckpt_every=2", "val_fraction=0.25", *TASK_OVERRIDES["det"], "steps=4",
                *extra])

    run(det(tmp_path / "whole"))
    run_killed_after_logging(monkeypatch, run_module, lambda: run(det(tmp_path / "resumed")))
    assert load_checkpoint(tmp_path / "resumed" / "ckpt.pt")["step"] == 2
    run(det(tmp_path / "resumed", "resume=true"))
    whole, resumed = (load_checkpoint(tmp_path / d / "head.pt")["model"] for d in ("whole", "resumed"))
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
