"""The fourth task end to end: a depth head transferred from external views, deployed on the test space's
eval views (scored against the rendered depth, overlays colour-mapped) and served by the plugin."""

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.transfer.test_deploy import compose_deploy, deploy_space
from tst.cli import config_dir
from tst.dataset import ShardDataset, collate
from tst.metrics.depth import DepthEvaluator
from tst.transfer.deploy import run
from tst.transfer.perception import Perception
from tst.transfer.run import run as transfer


@pytest.fixture(scope="module")
def depth_head(tmp_path_factory):
    space = deploy_space(tmp_path_factory)
    out = tmp_path_factory.mktemp("depth") / "head"
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("transfer", overrides=[
            "task=depth", "task.head=linear", f"data={space['ext']}", f"vocab={space['eval']}", f"out={out}",
            "logger=none", "batch_size=4", "eval_batch_size=4", "warmup=1", "log_every=100", "val_fraction=0.25",
            "device=cpu", "steps=6", "lr=3e-3"])
    res = transfer(cfg)
    assert {"depth/AbsRel", "depth/RMSE", "depth/delta1"} <= set(res)
    return space, out


def test_deploy_scores_depth_against_the_rendered_depth_with_overlays(depth_head, tmp_path):
    space, head = depth_head
    out = tmp_path / "deploy"
    res = run(compose_deploy([head], space["eval"], out, "overlays=2"))
    assert res["depth/AbsRel"] > 0 and res["depth/RMSE"] > 0 and 0 <= res["depth/delta1"] <= 100
    assert res["deploy/depth/images_per_s"] > 0 and res["deploy/eval_views"] == 6
    # the same numbers straight from the plugin and the evaluator
    p = Perception.from_run(head, device="cpu")
    ds = ShardDataset(space["eval"], ("rgb", "depth"))
    batch = collate([ds[i] for i in range(len(ds))])
    ev = DepthEvaluator()
    ev.process([{"depth": d[0]} for d in batch["depth"]], p.predict("depth", batch["rgb"]))
    want = ev.evaluate()
    for key in ("depth/AbsRel", "depth/RMSE", "depth/delta1"):
        assert res[key] == pytest.approx(want[key], rel=1e-6), key
    assert len(list((out / "overlays").glob("*.png"))) == 2
    report = (out / "report.md").read_text()
    assert "| depth | depth/AbsRel |" in report and "## Vocabulary" not in report
    assert json.loads((out / "metrics.json").read_text())["depth/delta1"] == res["depth/delta1"]


def test_plugin_serves_depth_in_metres_at_the_observation_size(depth_head):
    _, head = depth_head
    p = Perception.from_run(head, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    out = p({"rgb": rgb})
    assert set(out) == {"depth"} and out["depth"].shape == (30, 50) and out["depth"].dtype == np.float32
    cfg = p.task("depth").head_config()
    assert (out["depth"] >= cfg["min_depth"] - 1e-6).all() and (out["depth"] <= cfg["max_depth"] + 1e-6).all()
    assert torch.is_tensor(p.predict("depth", torch.rand(1, 3, 30, 50))[0]["depth"])
