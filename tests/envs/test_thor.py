"""AI2-THOR proxy scenes: classes (through the canonical vocabulary), exact box corners after the Unity -> z-up mapping, no mirroring,
outward box normals, the inferred room shell, procthor floor plans, Hydra, and the live-path errors."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest

from tst.envs.loaders.thor import (
    FLOOR_PLANS,
    MIN_CEILING,
    THOR_CLASSES,
    WALL_MARGIN,
    class_of,
    load_thor,
    thor_scene,
)
from tst.envs.loaders.thor_boxes import box_mesh, face_normals, thor_to_zup
from tst.envs.vocabulary import SYNTH_CLASSES

FIXTURE = Path(__file__).parent / "data" / "thor_floorplan_min.json"
OBJECT_CLASSES = ["floor", "counter", "fridge", "book", "window"]  # fixture order: Floor CounterTop Fridge Book Window
SHELL = ["floor", "ceiling", "wall", "wall", "wall", "wall"]
UNIT_BOX = {"cornerPoints": [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]}


def _meta() -> dict:
    return json.loads(FIXTURE.read_text())


def _boxes(*types: str) -> list[dict]:
    return [{"objectType": t, "objectId": f"{t}|{i}", "axisAlignedBoundingBox": UNIT_BOX} for i, t in enumerate(types)]


def _instance_vertices(scene, inst: int) -> np.ndarray:
    return np.unique(scene.vertices[scene.faces[scene.face_instance == inst]].reshape(-1, 3), axis=0)


def test_axis_mapping_is_x_z_y():
    np.testing.assert_array_equal(thor_to_zup(np.array([1.0, 2.0, 3.0])), [1.0, 3.0, 2.0])


def test_fixture_classes_instances_and_names():
    s = load_thor(metadata=str(FIXTURE))
    assert s.scene_id == "FloorPlan_Min"  # sceneName of the event.metadata dump
    assert s.class_names[:len(SYNTH_CLASSES)] == SYNTH_CLASSES  # the procedural apartments' ids
    assert s.class_names == THOR_CLASSES
    assert s.num_instances == 5 + 6
    assert [s.class_names[c] for c in s.instance_class[1:]] == OBJECT_CLASSES + SHELL
    # Floor, CounterTop, Fridge, Book, Window, then the shell: SYNTH_CLASSES ids, not THOR's own list
    assert s.instance_class[1:].tolist() == [2, 15, 19, 27, 5, 2, 3, 1, 1, 1, 1]
    assert s.instance_names[3] == "Fridge|-01.65|+00.00|+00.90"
    assert (np.bincount(s.face_instance)[1:6] == 12).all()  # 12 triangles per box
    assert (s.face_class[s.face_instance == 2] == SYNTH_CLASSES.index("counter")).all()  # CounterTop's faces
    assert (s.face_class[s.face_instance == 3] == SYNTH_CLASSES.index("fridge")).all()


def test_thor_types_split_into_words():
    assert [class_of(t) for t in ("CounterTop", "TVStand", "GarbageCan", "CD", "Fridge", "ToiletPaperHanger")] == \
        ["counter top", "tv stand", "garbage can", "cd", "fridge", "toilet paper hanger"]


def test_thor_types_map_through_the_canonical_vocabulary():
    thor = ["Sofa", "ArmChair", "DiningTable", "CounterTop", "Fridge", "TVStand", "Television", "HousePlant",
            "FloorLamp", "DeskLamp", "Bed", "Toilet", "Sink", "SinkBasin", "ShelvingUnit", "Painting", "Mug",
            "Microwave", "StoveBurner", "Doorway", "Blinds", "Dresser", "WineBottle", "BathtubBasin"]
    ours = ["sofa", "chair", "table", "counter", "fridge", "cabinet", "tv", "plant", "lamp", "lamp", "bed",
            "toilet", "sink", "sink", "shelf", "picture", "cup", "oven", "oven", "door", "window", "cabinet",
            "bottle", "bathtub"]
    s = thor_scene(_boxes(*thor))
    assert s.instance_class[1:len(thor) + 1].tolist() == [SYNTH_CLASSES.index(c) for c in ours]
    assert s.instance_class[1:8].tolist() == [7, 8, 9, 15, 19, 11, 18]  # Sofa .. Television, literally


def test_unmapped_types_stay_extra_classes_and_are_reported_with_face_counts(caplog):
    with caplog.at_level(logging.INFO, logger="tst.envs.vocabulary"):
        s = thor_scene(_boxes("Drawer", "Toaster", "Drawer", "GarbageCan", "Sofa"), scene_id="K")
    extra = len(SYNTH_CLASSES)
    assert [s.class_names[c] for c in s.instance_class[1:6]] == ["drawer", "toaster", "drawer", "trash can", "sofa"]
    assert s.instance_class[1:6].tolist() == [THOR_CLASSES.index("drawer"), THOR_CLASSES.index("toaster"),
                                              THOR_CLASSES.index("drawer"), THOR_CLASSES.index("trash can"), 7]
    assert min(s.instance_class[1:5]) >= extra  # after the canonical classes, not unlabelled
    assert "classes kept beyond the canonical vocabulary (faces): {'drawer': 24, 'garbage can': 12, " \
           "'toaster': 12}" in caplog.text


def test_label_map_wins_over_the_synonyms():
    s = thor_scene(_boxes("TVStand", "Drawer", "GarbageCan", "Sofa"),
                   label_map={"TVStand": "table", "drawer": "cabinet", "GarbageCan": "unlabelled"})
    assert s.instance_class[1:5].tolist() == [9, 11, 0, 7]  # table, cabinet, unlabelled, sofa (synonym path)
    assert "drawer" not in s.class_names
    with pytest.raises(ValueError, match="scene.label_map must be a dict.*CounterTop: table"):
        thor_scene(_boxes("Sofa"), label_map="CounterTop=table")


def test_box_corners_are_exact_after_axis_conversion():
    s, meta = load_thor(metadata=str(FIXTURE)), _meta()
    for i, obj in enumerate(meta["objects"], start=1):
        box = obj["objectOrientedBoundingBox"] or obj["axisAlignedBoundingBox"]
        expected = np.array([[x, z, y] for x, y, z in box["cornerPoints"]], dtype=np.float32)
        np.testing.assert_array_equal(_instance_vertices(s, i), np.unique(expected, axis=0))
    # the 30-degree-yawed book: its centre (0.5, 0.975, 0.2) in THOR sits at (0.5, 0.2, 0.975)
    np.testing.assert_allclose(_instance_vertices(s, 4).mean(0), [0.5, 0.2, 0.975], atol=1e-6)
    # the window's axis-aligned centre (2.0, 1.5, -0.5) sits at (2.0, -0.5, 1.5)
    np.testing.assert_allclose(_instance_vertices(s, 5).mean(0), [2.0, -0.5, 1.5], atol=1e-6)


def test_box_normals_point_outwards_and_shell_inwards():
    s = load_thor(metadata=str(FIXTURE))
    n = face_normals(s.vertices.astype(np.float64), s.faces)
    centroid = s.vertices[s.faces].mean(1)
    for inst in range(1, 6):
        m = s.face_instance == inst
        centre = _instance_vertices(s, inst).mean(0)
        assert ((n[m] * (centroid[m] - centre)).sum(1) > 0).all(), s.instance_names[inst]
    room_centre = s.bounds.mean(0)
    m = s.face_instance > 5
    assert ((n[m] * (room_centre - centroid[m])).sum(1) > 0).all()


def test_box_mesh_any_corner_order_and_flat_boxes():
    rng = np.random.default_rng(0)
    for t in range(20):
        a = rng.uniform(0, np.pi)
        axes = np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
        ext = rng.uniform(0.1, 2.0, 3) * (0.0 if t % 4 == 0 else 1.0, 1, 1)  # every 4th is flat
        bits = np.array([[(b >> k) & 1 for k in range(3)] for b in range(8)]) - 0.5
        corners = rng.normal(size=3) + (bits * ext) @ axes
        v, f = box_mesh(corners[rng.permutation(8)])
        assert sorted(map(tuple, v)) == sorted(map(tuple, corners))
        n = face_normals(v, f)
        assert ((n * (v[f].mean(1) - v.mean(0))).sum(1) >= -1e-12).all()
    with pytest.raises(ValueError, match="parallelepiped"):
        box_mesh(np.r_[np.zeros((7, 3)), [[5.0, 7.0, 1.0]]] + rng.normal(size=(8, 3)))


def test_layout_is_not_mirrored():
    """THOR: B to the right (+x) of A, C in front (+z). Seen from above that turn is counter-clockwise
    in Unity, so it must be counter-clockwise (positive z cross product) in our z-up frame too."""
    def cube(x, z):
        return {"objectType": "Box", "objectId": f"Box|{x}|{z}", "axisAlignedBoundingBox": {
            "cornerPoints": [[x + dx, dy, z + dz] for dx in (0.1, -0.1) for dy in (0.2, 0.0) for dz in (0.1, -0.1)]}}

    s = thor_scene([cube(0.0, 0.0), cube(1.0, 0.0), cube(0.0, 1.0)])
    a, b, c = (_instance_vertices(s, i).mean(0) for i in (1, 2, 3))
    assert np.cross(b - a, c - a)[2] > 0.5


def test_inferred_shell_and_room():
    s = load_thor(metadata=str(FIXTURE))
    room = s.rooms[0]
    # objects span x [-2, 2.05] (window), THOR z [-1.5, 1.5], from the floor slab bottom y = -0.1
    lo = np.array([-2.0 - WALL_MARGIN, -1.5 - WALL_MARGIN, -0.1])
    hi = np.array([2.05 + WALL_MARGIN, 1.5 + WALL_MARGIN, 0.0 + MIN_CEILING])
    np.testing.assert_allclose(s.bounds, np.stack([lo, hi]), atol=1e-6)
    assert room.name == "room" and room.floor_z == 0.0 and room.ceiling_z == pytest.approx(MIN_CEILING)
    np.testing.assert_allclose(room.polygon, [lo[:2], [hi[0], lo[1]], hi[:2], [lo[0], hi[1]]], atol=1e-6)


def test_scene_bounds_and_objects_list_file(tmp_path):
    meta = _meta()
    bounds = [[x, y, z] for x in (-3.0, 3.0) for y in (-0.2, 2.8) for z in (-2.0, 2.5)]
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "sceneBounds": {"cornerPoints": bounds}}))
    s = load_thor(metadata=str(tmp_path / "meta.json"))
    np.testing.assert_allclose(s.bounds, [[-3.0, -2.0, -0.2], [3.0, 2.5, 2.8]])
    (tmp_path / "objects.json").write_text(json.dumps(meta["objects"]))  # the bare objects list
    s2 = load_thor(name="MyKitchen", metadata=str(tmp_path / "objects.json"))
    assert s2.scene_id == "MyKitchen" and s2.num_instances == 11


def test_proxy_renders_the_book_where_it_is():
    """A ray straight down onto the book's centre hits the book's top face at the analytic depth."""
    s = load_thor(metadata=str(FIXTURE))
    rs = o3d.t.geometry.RaycastingScene()
    rs.add_triangles(o3d.core.Tensor(s.vertices), o3d.core.Tensor(s.faces.astype(np.uint32)))
    ray = o3d.core.Tensor(np.array([[0.5, 0.2, 2.0, 0.0, 0.0, -1.0]], dtype=np.float32))
    hit = rs.cast_rays(ray)
    face = int(hit["primitive_ids"].numpy()[0])
    assert s.class_names[s.face_class[face]] == "book"
    assert float(hit["t_hit"].numpy()[0]) == pytest.approx(2.0 - 1.0, abs=1e-5)  # book top at THOR y 1.0


def test_unknown_types_are_appended_and_bad_input_fails(tmp_path):
    box = {"cornerPoints": [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]}
    s = thor_scene([{"objectType": "RobotArm", "objectId": "r", "axisAlignedBoundingBox": box}])
    assert s.class_names == [*THOR_CLASSES, "robot arm"] and s.face_class[0] == len(THOR_CLASSES)
    with pytest.raises(ValueError, match="'Mug\\|1'.*axisAlignedBoundingBox"):
        thor_scene([{"objectType": "Mug", "objectId": "Mug|1"}])
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_thor(metadata=str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text(json.dumps({"sceneName": "x"}))
    with pytest.raises(ValueError, match="'objects' list"):
        load_thor(metadata=str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="'offline' or 'live'"):
        load_thor(source="online")
    with pytest.raises(KeyError, match="FloorPlan201..230"):
        load_thor(name="FloorPlan99", metadata=None)


def test_procthor_floor_plans_are_named_right():
    """The name -> list index mapping agrees with the 'scenes' field of procthor's asset database."""
    pytest.importorskip("procthor")
    import importlib.resources

    from tst.envs.loaders.thor import _procthor_database

    db = json.loads((importlib.resources.files("procthor") / "databases" / "asset-database.json").read_text())
    scenes_of = {a["assetId"]: set(a.get("scenes", [])) for assets in db.values() for a in assets}
    for name in ["FloorPlan1", "FloorPlan30", "FloorPlan201", "FloorPlan330", "FloorPlan430",
                 "FloorPlan_Train12_5", "FloorPlan_Val1_1", "FloorPlan_Val3_5"]:
        key, _, index = FLOOR_PLANS[name]
        objs = [o for o in _procthor_database()[key][index] if o.get("assetId") in scenes_of]
        assert objs and all(name in scenes_of[o["assetId"]] for o in objs), name
    s = load_thor("FloorPlan1")
    assert s.num_instances == 77 + 6 and s.rooms[0].name == "kitchen" and s.class_names == THOR_CLASSES
    per_class = np.bincount(s.instance_class[1:], minlength=len(s.class_names))
    # 3 CounterTop, 9 Cabinet, 1 Fridge, 4 StoveBurner + 1 Microwave, 2 Sink/SinkBasin, 9 Drawer, 1 Toaster
    assert [per_class[s.class_id(c)] for c in ("counter", "cabinet", "fridge", "oven", "sink", "drawer", "toaster")] \
        == [3, 9, 1, 5, 2, 9, 1]
    living = load_thor("FloorPlan201")  # another floor plan: the same class list, so the same ids
    assert living.class_names == THOR_CLASSES
    per_class = np.bincount(living.instance_class[1:], minlength=len(THOR_CLASSES))
    assert [per_class[SYNTH_CLASSES.index(c)] for c in ("sofa", "tv", "table", "chair", "lamp")] == [1, 1, 5, 8, 2]


def test_hydra_composes_scene_thor():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from tst.cli import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="collect", overrides=["scene=thor", f"scene.metadata={FIXTURE}"])
        mapped = compose(config_name="collect", overrides=["scene=thor", f"scene.metadata={FIXTURE}",
                                                           "scene.label_map={CounterTop: table}"])
    s = instantiate(cfg.scene)
    assert s.scene_id == "FloorPlan_Min" and s.num_instances == 11
    assert instantiate(mapped.scene).instance_class[1:6].tolist() == [2, 9, 19, 27, 5]  # the documented form wins


def test_live_without_ai2thor_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai2thor", None)  # import ai2thor -> ImportError, installed or not
    monkeypatch.setitem(sys.modules, "ai2thor.controller", None)
    with pytest.raises(RuntimeError, match="pip install ai2thor.*display.*CloudRendering.*download"):
        load_thor("FloorPlan1", source="live")


def _fake_ai2thor(monkeypatch, controller_cls) -> None:
    pkg, ctl = types.ModuleType("ai2thor"), types.ModuleType("ai2thor.controller")
    ctl.Controller = controller_cls
    monkeypatch.setitem(sys.modules, "ai2thor", pkg)
    monkeypatch.setitem(sys.modules, "ai2thor.controller", ctl)
    monkeypatch.setitem(sys.modules, "ai2thor.platform", None)


def test_live_build_that_cannot_start_names_display_and_download(monkeypatch):
    class Broken:
        def __init__(self, **kw):
            raise OSError("no DISPLAY and Vulkan unavailable")

    _fake_ai2thor(monkeypatch, Broken)
    with pytest.raises(RuntimeError, match="could not start scene 'FloorPlan1'.*display.*CloudRendering"):
        load_thor("FloorPlan1", source="live")


def test_live_controller_metadata_goes_through_the_offline_builder(monkeypatch):
    stopped = []

    class Fake:
        def __init__(self, scene, **kw):
            self.last_event = types.SimpleNamespace(metadata={**_meta(), "sceneName": scene})

        def stop(self):
            stopped.append(True)

    _fake_ai2thor(monkeypatch, Fake)
    s = load_thor("FloorPlan2", source="live")
    assert s.scene_id == "FloorPlan2" and s.rooms[0].name == "kitchen" and stopped == [True]
    assert [s.class_names[c] for c in s.instance_class[1:6]] == OBJECT_CLASSES
