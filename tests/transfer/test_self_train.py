"""Self-training on the test space's fused predictions: the head changes, deterministically, a finished run
is extended without training its external steps again, and bad settings fail before any work."""

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.transfer.test_deploy import deploy_space
from tst.checkpoint import load_checkpoint
from tst.cli import config_dir
from tst.transfer.perception import Perception
from tst.transfer.run import run
from tst.transfer.self_train import check_self_train, fused_labels


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)  # box-room eval views (posed) + external rooms, built once


def _cfg(space, out, *extra):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("transfer", overrides=[
            "task=semseg", "task.head=linear", f"data={space['ext']}", f"vocab={space['eval']}", f"out={out}",
            "logger=none", "batch_size=4", "eval_batch_size=4", "warmup=1", "log_every=100", "val_fraction=0.25",
            "steps=4", "lr=3e-3", "device=cpu", *extra])


def _adapt(space, steps=3):
    return [f"self_train.data={space['eval']}", f"self_train.steps={steps}", "self_train.lr=1e-3",
            "self_train.voxel=0.2"]


def _weights(run_dir):
    return load_checkpoint(run_dir / "head.pt")["model"]


def test_self_training_changes_the_head_deterministically(space, tmp_path):
    plain = tmp_path / "plain"
    run(_cfg(space, plain))
    a, b = tmp_path / "a", tmp_path / "b"
    ma, mb = run(_cfg(space, a, *_adapt(space))), run(_cfg(space, b, *_adapt(space)))
    assert ma["self_train/views"] == 6 and ma["self_train/steps"] == 3 and ma["self_train/voxels"] > 0
    assert ma["self_train/labelled_fraction"] > 0.9  # every pixel of a closed room has a depth
    assert 0.0 <= ma["self_train/relabelled"] < 1.0
    wa, wb, wp = _weights(a), _weights(b), _weights(plain)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # same seed, same head
    assert any(not torch.equal(wa[k], wp[k]) for k in wa)  # the self-training steps moved it
    assert ma["semseg/mIoU"] == mb["semseg/mIoU"]
    assert json.loads((a / "metrics.json").read_text())["self_train/steps"] == 3
    alone = tmp_path / "alone"  # fused labels only (the default mixes in half external views): another head
    run(_cfg(space, alone, *_adapt(space), "self_train.external_fraction=0.0"))
    wm = _weights(alone)
    assert any(not torch.equal(wa[k], wm[k]) for k in wa) and any(not torch.equal(wp[k], wm[k]) for k in wp)


def test_fused_labels_are_the_majority_of_the_heads_own_predictions(space):
    p = Perception.from_run(space["semseg"], device="cpu")
    task, model, size = p.heads["semseg"]
    rgb, labels, stats = fused_labels(task, model, str(space["eval"]), 0.2, 1, 0.0, size, 4, torch.device("cpu"))
    own = np.stack([o["semseg"] for o in p(list(rgb))])  # the plugin's predictions of the same views
    have = labels > 0
    # fusion relabels exactly the pixels it reports, and keeps the head's vocabulary
    assert stats["self_train/relabelled"] == pytest.approx(float((labels != own)[have].mean()), abs=1e-4)
    assert set(np.unique(labels[have])) <= set(task.class_names)


def test_a_finished_run_is_extended_without_its_external_steps_again(space, tmp_path, capsys):
    out = tmp_path / "run"
    run(_cfg(space, out))
    before = load_checkpoint(out / "ckpt.pt")["model"]
    capsys.readouterr()
    m = run(_cfg(space, out, "resume=true", *_adapt(space)))
    log = capsys.readouterr().out
    assert "step      1 |" not in log and "self_train step" in log  # external steps were not trained again
    assert m["self_train/steps"] == 3 and m["transfer/steps"] == 4
    after = load_checkpoint(out / "ckpt.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # the external steps' checkpoint stays
    fresh = tmp_path / "fresh"
    run(_cfg(space, fresh, *_adapt(space)))
    wx, wf = _weights(out), _weights(fresh)
    assert all(torch.equal(wx[k], wf[k]) for k in wx)  # extending == running with self_train from the start


@pytest.mark.parametrize("extra,match", [
    (["self_train.data=x", "self_train.steps=-1"], "self_train.steps must be >= 0"),
    (["self_train.data=x", "self_train.voxel=0"], "self_train.voxel"),
    (["self_train.data=x", "self_train.external_fraction=1.0"], r"external_fraction .* in \[0, 1\)"),
])
def test_bad_self_train_settings_fail_before_training(space, tmp_path, extra, match):
    with pytest.raises(ValueError, match=match):
        run(_cfg(space, tmp_path / "run", *extra))
    assert not (tmp_path / "run").exists()


def test_only_semseg_self_trains():
    cfg = OmegaConf.create({"task": {"name": "det"}, "self_train": {"data": "x", "steps": 1, "voxel": 0.1}})
    with pytest.raises(ValueError, match="self_train.data is set but task=det.*drop self_train.data"):
        check_self_train(cfg)


def test_views_without_poses_are_refused_by_name(space, tmp_path):
    from tests.transfer.synthetic import write_split

    unposed = write_split(tmp_path / "unposed", n=4)
    with pytest.raises(ValueError, match="unposed.*no intrinsics / cam_to_world"):
        run(_cfg(space, tmp_path / "run", f"self_train.data={unposed}", "self_train.steps=2"))
