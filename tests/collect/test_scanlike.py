"""Collection on a scan-like space (tests/envs/scanlike.py): no ceiling, holes, 25 deg yaw, noisy floor,
vertex colours only, labels on vertices in the ScanNet and ScanNet++ layouts, scan spellings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.collect import compose_collect
from tests.envs.scanlike import scan_like
from tst.collect.collector import CollectError
from tst.collect.run import run
from tst.envs.freespace import FreeSpace, points_in_polygon
from tst.envs.loaders.scannet import load_scannet, write_scannet
from tst.envs.loaders.scannetpp import load_scannetpp, write_scannetpp
from tst.envs.policies.explore import ExplorePolicy
from tst.envs.policies.walk import WalkPolicy
from tst.shards import iter_split


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    scene, truth = scan_like(seed=0)
    root = tmp_path_factory.mktemp("scans")
    write_scannet(scene, root / "scene0000_00")
    write_scannetpp(scene, root / "pp")
    return scene, truth, root


def _truth_names(scene, truth) -> np.ndarray:
    """[F] canonical class name of every face of the fixture (what the scan spelling stands for)."""
    return np.array(truth["canonical"])[scene.face_class]


@pytest.mark.parametrize("layout", ["scannet", "scannetpp"])
def test_both_layouts_load_every_face_with_its_canonical_class(scan, layout):
    scene, truth, root = scan
    s = load_scannet(root / "scene0000_00") if layout == "scannet" else load_scannetpp(root / "pp")
    assert s.texture is None and s.vertex_colors is not None
    np.testing.assert_array_equal(s.face_instance, scene.face_instance)
    got = np.array(s.class_names)[s.face_class]
    np.testing.assert_array_equal(got, _truth_names(scene, truth))  # couch -> sofa, television -> tv, ...
    assert "couch" in scene.class_names and "sofa" in s.class_names and "couch" not in s.class_names


def test_free_space_is_open_and_random_spreads(scan, tmp_path):
    scene, truth, root = scan
    assert FreeSpace(scene).mode == "open"
    out = tmp_path / "ev"
    scene_cfg = {"_target_": "tst.envs.loaders.scannet.load_scannet", "path": str(root / "scene0000_00")}
    run(compose_collect(out, "split=eval", "frames=32", "resolution=32", scene=scene_cfg))
    m = json.loads((out / "manifest.json").read_text())
    spread = m["policy"]["scene0000_00"]["spread"]
    assert m["complete"] and m["counts"] == {"eval": 32}
    assert spread["extent_fraction"] >= 0.5 and spread["freespace_mode"] == "open"
    assert spread["navigable_area_m2"] > 0.3 * spread["floor_area_m2"]
    # eval labels equal the truth per pixel wherever a face is hit (instances are the fixture's)
    classes = m["classes"]
    inst_truth = np.array(truth["canonical"])[scene.instance_class]  # [I + 1]
    hits = 0
    for sample in iter_split(out):
        inst, sem = sample["instance"].astype(np.int64), sample["semseg"].astype(np.int64)
        hit = inst > 0
        hits += int(hit.sum())
        names = np.array([classes[str(c)] for c in sem[hit]])
        np.testing.assert_array_equal(names, inst_truth[inst[hit]])
    assert hits > 0.3 * 32 * 32 * 32


def test_walk_crosses_rooms_and_explore_reaches_its_target(scan):
    scene, truth, _ = scan
    fs = FreeSpace(scene)
    poses = np.stack(WalkPolicy(scene, fs).plan(120, seed=0))
    xy = poses[:, :2, 3]
    rooms = {i for i, r in enumerate(truth["rooms"]) if points_in_polygon(xy, np.asarray(r.polygon, np.float64)).any()}
    assert len(rooms) >= 2
    explore = ExplorePolicy(scene, fs, coverage=0.8, voxel=0.25)
    explore.plan(200, seed=0)
    rep = explore.report()
    assert rep["target_reached"] and rep["coverage"] >= 0.8
    assert 0.4 < rep["scene_coverage"] <= rep["observable_fraction"] + 0.05  # measured on the whole surface


def test_forced_enclosed_confines_the_walk_and_is_refused(scan, tmp_path):
    _, _, root = scan
    scene_cfg = {"_target_": "tst.envs.loaders.scannet.load_scannet", "path": str(root / "scene0000_00")}
    with pytest.raises(CollectError, match="freespace.enclosed=false"):
        run(compose_collect(tmp_path / "w", "policy=walk", "frames=16", "freespace.enclosed=true", scene=scene_cfg))
    assert not (tmp_path / "w/manifest.json").exists()


def test_pretrain_needs_no_annotation_but_eval_names_the_missing_file(scan, tmp_path):
    scene, _, _ = scan
    root = write_scannet(scene, tmp_path / "scene0001_00")
    (root / "scene0001_00.aggregation.json").unlink()
    scene_cfg = {"_target_": "tst.envs.loaders.scannet.load_scannet", "path": str(root)}
    with pytest.raises(CollectError, match=r"scene0001_00\.aggregation\.json"):
        run(compose_collect(tmp_path / "e", "split=eval", "frames=4", scene=scene_cfg))
    run(compose_collect(tmp_path / "p", "split=pretrain", "frames=4", "resolution=16", scene=scene_cfg))
    assert json.loads((tmp_path / "p/manifest.json").read_text())["counts"] == {"pretrain": 4}


def test_documented_dict_overrides_compose_and_reach_the_loader(scan, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from tst.cli import config_dir

    _, _, root = scan
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("collect", overrides=["scene=scannet", f"scene.path={root / 'scene0000_00'}",
                                            "scene.label_map={couch: armchair}", "freespace.enclosed=false"])
        mesh = compose("collect", overrides=["scene=mesh", "scene.path=x.glb", "scene.class_map={wall: partition}"])
        pp = compose("collect", overrides=["scene=scannetpp", "scene.path=x", "scene.label_map={couch: sofa}"])
    assert dict(mesh.scene.class_map) == {"wall": "partition"} and dict(pp.scene.label_map) == {"couch": "sofa"}
    assert cfg.freespace.enclosed is False or cfg.freespace.enclosed == "false"
    s = instantiate(cfg.scene, _convert_="object")
    assert "chair" in [s.class_names[c] for c in s.face_class]  # label_map wins over the synonym couch -> sofa
    assert "sofa" not in {s.class_names[c] for c in s.face_class}


def test_documented_synonyms_override_composes():
    from hydra import compose, initialize_config_dir

    from tst.cli import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for stage in ("transfer", "deploy"):
            assert dict(compose(stage, overrides=["synonyms={couch: sofa}"]).synonyms) == {"couch": "sofa"}
