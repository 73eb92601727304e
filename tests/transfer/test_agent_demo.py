"""The agent demo: the scene rebuilt from the eval split, a walk perceived by the plugin, GIF and map written."""

import json
import logging

import imageio.v3 as iio
import numpy as np
import pytest

from tests.envs.fixtures import make_box_room
from tests.transfer.test_deploy import compose_deploy, deploy_space
from tst.envs.render.open3d_renderer import Open3DRenderer
from tst.envs.scene import scene_hash
from tst.transfer.agent_demo import build_renderer, rebuild_scene, run_agent
from tst.transfer.deploy import run
from tst.transfer.perception import Perception


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)


def test_scene_is_rebuilt_from_the_manifest_and_checked(space, tmp_path):
    assert scene_hash(rebuild_scene(space["eval"])) == scene_hash(make_box_room())
    with pytest.raises(ValueError, match="ONE test space.*split=eval"):
        rebuild_scene(space["ext"])  # two other rooms
    bad = tmp_path / "bad"
    bad.mkdir()
    m = json.loads((space["eval"] / "manifest.json").read_text())
    m["config"]["scene"]["width"] = 5.0  # the recorded hash is of the 4 m room
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="another scene than the one recorded.*collect the eval split again"):
        rebuild_scene(bad)


def test_walk_writes_an_annotated_gif_and_a_scored_map(space, tmp_path):
    p = Perception.from_run([space["semseg"], space["det"]], device="cpu")
    res = run_agent(p, space["eval"], tmp_path, steps=5, threads=1)
    frames = iio.imread(res["video"])
    assert frames.shape[0] == 5 and frames.shape[1:3] == (192, 192)  # 64 px views enlarged 3x, no caption band
    assert len({f.tobytes() for f in frames}) > 1  # the agent moves
    m = res["metrics"]
    assert m["agent/steps"] == 5 and m["agent/frames_per_s"] > 0 and m["agent/perception_ms_p50"] > 0
    assert 0.0 <= m["map/mIoU"] <= 100.0 and "map/IoU/floor" in m
    assert res["map_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and res["warning"] is None


def test_an_agent_with_depth_reads_the_space_map_of_its_head(space, tmp_path):
    """The walking agent knows its pose: a semseg head carrying the space's map (here one voted from the
    eval views' own truth) answers from it where it has seen the surface, so the agent maps better."""
    from tests.transfer.test_space_map import _truth_votes

    plain = run_agent(Perception.from_run(space["semseg"], device="cpu"), space["eval"], tmp_path / "a", steps=4,
                      threads=1)["metrics"]["map/mIoU"]
    p = Perception.from_run(space["semseg"], device="cpu")
    p.space_map, p.map_head = _truth_votes(space["eval"], 0.1)[0], "semseg"
    mapped = run_agent(p, space["eval"], tmp_path / "b", steps=4, threads=1)["metrics"]["map/mIoU"]
    assert mapped > plain + 8  # measured 64.3 against 51.9: the six eval views cover part of what the walk sees


def test_without_depth_the_map_is_disabled_with_a_warning(space, tmp_path, caplog):
    p = Perception.from_run(space["semseg"], device="cpu")
    with caplog.at_level(logging.WARNING):
        res = run_agent(p, space["eval"], tmp_path, steps=2, threads=1, depth=False)
    assert "no depth" in res["warning"] and "no depth" in caplog.text
    assert res["map_png"] is None and not any(k.startswith("map/") for k in res["metrics"])
    assert res["video"].is_file()
    p = Perception.from_run(space["caption"], device="cpu")
    res = run_agent(p, space["eval"], tmp_path / "c", steps=2, threads=1)
    assert "no semseg head" in res["warning"]
    assert iio.imread(res["video"]).shape[1] == 192 + 46  # the caption band


def test_deploy_agent_true_adds_the_demo_to_metrics_and_report(space, tmp_path):
    out = tmp_path / "d"
    res = run(compose_deploy([space["semseg"]], space["eval"], out, "agent=true", "demo.steps=3", "demo.threads=1",
                             "overlays=1"))
    assert res["agent/steps"] == 3 and 0 <= res["map/mIoU"] <= 100
    assert (out / "agent.gif").is_file() and (out / "agent_map.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["map/mIoU"] == res["map/mIoU"] and "semseg/mIoU" in metrics
    report = (out / "report.md").read_text()
    assert "## Agent demo" in report and "![video](agent.gif)" in report and "| map/mIoU |" in report
    assert np.isfinite(metrics["agent/frames_per_s"])


def test_map_truth_leaves_out_classes_the_head_cannot_predict(space, tmp_path):
    from tst.models.vit import create_encoder
    from tst.transfer.tasks.semseg import SemSegTask

    task = SemSegTask({1: "Floor", 2: "wall", 3: "lamp"}, head="linear")  # no table, no ceiling; named loosely
    model = task.build_model(create_encoder("tst_vit_test", modalities=["rgb"], img_size=64))
    res = run_agent(Perception({"semseg": (task, model, 64)}, device="cpu"), space["eval"], tmp_path, steps=3,
                    threads=1)
    ious = {k for k in res["metrics"] if k.startswith("map/IoU/")}
    assert ious <= {"map/IoU/floor", "map/IoU/wall"} and "map/IoU/floor" in ious


class CountingRenderer(Open3DRenderer):
    """Open3D, counting its renders: proves which renderer config the agent demo built."""

    renders: list[int] = []

    def render(self, *args, **kwargs):
        CountingRenderer.renders.append(1)
        return super().render(*args, **kwargs)


def test_the_renderer_is_built_from_the_split_config_unless_one_is_given(space, tmp_path):
    scene = make_box_room()
    r = build_renderer(space["eval"], scene, threads=1)  # the config the eval split was collected with
    assert type(r) is Open3DRenderer and r.threads == 1
    m = json.loads((space["eval"] / "manifest.json").read_text())
    assert r.ambient == m["config"]["renderer"]["ambient"]
    own = tmp_path / "own"
    own.mkdir()
    m["config"]["renderer"]["ambient"] = 0.75
    (own / "manifest.json").write_text(json.dumps(m))
    assert build_renderer(own, scene).ambient == 0.75 and build_renderer(own, scene).threads == 0
    given = build_renderer(own, scene, {"_target_": f"{__name__}.CountingRenderer", "ambient": 0.5}, threads=1)
    assert type(given) is CountingRenderer and given.ambient == 0.5 and given.threads == 1
    del m["config"]["renderer"]
    (own / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="records no renderer config.*agent=true renderer=open3d"):
        build_renderer(own, scene)


def test_deploy_renderer_override_reaches_the_agent_demo(space, tmp_path):
    CountingRenderer.renders.clear()
    res = run(compose_deploy([space["semseg"]], space["eval"], tmp_path / "d", "agent=true", "demo.steps=2",
                             "demo.threads=1", "overlays=1", "renderer=open3d",
                             f"renderer._target_={__name__}.CountingRenderer"))
    assert res["agent/steps"] == 2 and len(CountingRenderer.renders) == 2
