"""`tst pretrain` under faults: divergence never reaches a checkpoint or an export and is blamed on
the right modality; a resume logs every step once."""

import json

import numpy as np
import pytest
import torch

import tst.pretrain.run as run_module
from tests.interrupt import run_killed_after_logging
from tests.pretrain.fixtures import pretrain_cfg, write_split
from tst.checkpoint import load_checkpoint
from tst.pretrain.run import NonFiniteLoss, run
from tst.shards import ShardWriter, encode_sample


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("split") / "pretrain", n=8, size=32)


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def _all_finite(state):
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_divergence_never_reaches_a_checkpoint_or_an_export(tmp_path, data):
    # lr=1e3: the weights themselves turn NaN in the optimizer step (today: after the step-2 checkpoint)
    with pytest.raises(NonFiniteLoss, match=r"non-finite weights after step \d.*lower lr") as err:
        run(pretrain_cfg(data, tmp_path / "long", "lr=1e3", "steps=10", "ckpt_every=2"))
    ckpt = tmp_path / "long" / "ckpt.pt"
    if ckpt.exists():  # what the message calls the last good checkpoint must be good
        assert str(ckpt) in str(err.value) and _all_finite(load_checkpoint(ckpt)["model"])
    with pytest.raises(NonFiniteLoss):
        run(pretrain_cfg(data, tmp_path / "short", "lr=1e3", "steps=2", "ckpt_every=2"))
    assert not (tmp_path / "short" / "export").exists()
    assert not (tmp_path / "short" / "ckpt.pt").exists() or _all_finite(load_checkpoint(tmp_path / "short" / "ckpt.pt")["model"])


def test_an_all_inf_depth_input_blames_depth_only(tmp_path):
    split = tmp_path / "split"
    rng = np.random.default_rng(0)
    with ShardWriter(split, shard_size=4) as w:
        for i in range(4):
            members = encode_sample({"rgb": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
                                     "normal": np.dstack([np.zeros((32, 32, 2)), np.ones((32, 32))]).astype(np.float32),
                                     "meta": {"scene_id": "t"}})
            members["depth.npy"] = encode_sample({"x": np.full((32, 32), np.inf, np.float32)})["x.npy"]
            w.write(f"{i:06d}", members)
    (split / "manifest.json").write_text(json.dumps({"modalities": ["rgb", "depth", "normal"]}))
    with pytest.raises(NonFiniteLoss, match=r"step 1 in the depth input") as err:
        run(pretrain_cfg(split, tmp_path / "run", "steps=2"))
    assert "rgb" not in str(err.value) and "normal" not in str(err.value)


def test_a_resumed_run_logs_each_step_once(tmp_path, data, monkeypatch):
    run(pretrain_cfg(data, tmp_path / "whole", "steps=5"))
    whole = {r["step"]: r["train/loss"] for r in _rows(tmp_path / "whole") if "train/loss" in r}

    # killed after logging step 3; the checkpoint is from step 2
    run_killed_after_logging(monkeypatch, run_module, lambda: run(pretrain_cfg(data, tmp_path / "killed", "steps=5")))
    assert load_checkpoint(tmp_path / "killed" / "ckpt.pt")["step"] == 2
    run(pretrain_cfg(data, tmp_path / "killed", "steps=5", "resume=true"))
    rows = [r for r in _rows(tmp_path / "killed") if "train/loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        assert r["train/loss"] == pytest.approx(whole[r["step"]], rel=1e-5, abs=1e-6)


def test_a_shard_deleted_after_collection_is_refused(tmp_path):
    from tst.collect.manifest import shard_hashes
    from tst.shards import ShardError

    split = write_split(tmp_path / "split", n=8, size=32, shard_size=2)
    manifest = json.loads((split / "manifest.json").read_text())
    manifest["counts"], (manifest["content_hash"], manifest["shards"]) = {"pretrain": 8}, shard_hashes(split)
    (split / "manifest.json").write_text(json.dumps(manifest))
    (split / "shard-000001.tar").unlink()
    with pytest.raises(ShardError, match=r"shard-000001\.tar is missing"):
        run(pretrain_cfg(split, tmp_path / "run", "steps=1"))


def test_progress_with_eta_on_a_terminal_only(tmp_path, data, monkeypatch, capsys):
    import io
    import sys

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", tty := Tty())
    run(pretrain_cfg(data, tmp_path / "tty", "steps=3"))
    assert "pretrain" in tty.getvalue() and "3/3" in tty.getvalue() and "loss=" in tty.getvalue()
    assert "step      3 | loss" in capsys.readouterr().out  # the log lines still reach stdout
    monkeypatch.setattr(sys, "stderr", pipe := io.StringIO())
    run(pretrain_cfg(data, tmp_path / "pipe", "steps=3"))
    assert "3/3" not in pipe.getvalue()
