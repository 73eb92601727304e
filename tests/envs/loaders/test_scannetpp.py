"""ScanNet++: per-vertex segments -> per-face instances, labels through the class list."""

import json

import numpy as np
import pytest

from tests.envs.fixtures import instance_centroid, make_box_room, write_scannetpp_fixture
from tst.envs.loaders import ply
from tst.envs.loaders.scannetpp import SCANNETPP_CLASSES, load_scannetpp
from tst.envs.vocabulary import SYNTH_CLASSES, canonical_name


def test_box_room_round_trip(tmp_path):
    room = make_box_room()
    write_scannetpp_fixture(room, tmp_path / "0a7cc12c0e")
    seg = json.loads((tmp_path / "0a7cc12c0e/scans/segments.json").read_text())
    assert len(seg["segIndices"]) == len(room.vertices)  # one segment id per VERTEX
    s = load_scannetpp(tmp_path / "0a7cc12c0e")
    np.testing.assert_array_equal(s.vertices, room.vertices)
    np.testing.assert_array_equal(s.faces, room.faces)
    np.testing.assert_array_equal(s.face_instance, room.face_instance)
    assert [s.class_names[c] for c in s.face_class] == [room.class_names[c] for c in room.face_class]
    np.testing.assert_array_equal(s.vertex_colors, room.vertex_colors)
    assert s.class_names[:len(SYNTH_CLASSES)] == SYNTH_CLASSES  # the canonical ids come first
    assert len(SCANNETPP_CLASSES) == 100 and canonical_name("trashcan") == "trash can" in SCANNETPP_CLASSES
    assert s.class_names[s.instance_class[7]] == "table"
    np.testing.assert_allclose(instance_centroid(s, 7), [2.0, 1.5, 0.375], atol=1e-6)
    assert s.scene_id == "0a7cc12c0e"


def _hand_written(root, labels=("Office Chair", "wall", "bean bag")):
    """Two squares of 2 triangles sharing no vertex + a lone triangle; segment ids are arbitrary."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                  [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [5, 5, 5], [6, 5, 5], [5, 6, 5]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [8, 9, 10]])
    c = np.arange(33, dtype=np.uint8).reshape(11, 3)
    ply.write_ply(root / "scans/mesh_aligned_0.05.ply",
                  {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2], "red": c[:, 0], "green": c[:, 1], "blue": c[:, 2]}, f)
    # vertex 3 sits in a segment of the OTHER group: the majority of its faces' vertices wins
    seg = [907, 907, 907, 31, 31, 31, 31, 31, 5, 5, 77]
    (root / "scans/segments.json").write_text(json.dumps({"sceneId": root.name, "segIndices": seg}))
    groups = [{"id": 4, "objectId": 4, "label": labels[1], "segments": [31]},
              {"id": 2, "objectId": 2, "label": labels[0], "segments": [907, 12]},
              {"id": 9, "objectId": 9, "label": labels[2], "segments": [5]}]
    (root / "scans/segments_anno.json").write_text(json.dumps({"sceneId": root.name, "segGroups": groups}))


def test_majority_vote_label_map_and_unknown_label_warning(tmp_path, caplog):
    _hand_written(tmp_path)
    with caplog.at_level("WARNING"):
        s = load_scannetpp(tmp_path)
    assert "segments_anno.json" in caplog.text and "{'bean bag': 1}" in caplog.text  # with its face count
    # instances by ascending objectId: 2 -> 1 (office chair), 4 -> 2 (wall), 9 -> 3 (bean bag)
    np.testing.assert_array_equal(s.face_instance, [1, 1, 2, 2, 3])
    assert [s.class_names[c] for c in s.face_class] == ["chair"] * 2 + ["wall"] * 2 + ["unlabelled"]
    assert s.vertex_colors[10].tolist() == [30, 31, 32]
    assert s.instance_names == {1: "office chair", 2: "wall", 3: "bean bag"}

    s = load_scannetpp(tmp_path, label_map={"office chair": "chair", "Bean Bag": "beanbag"})
    assert [s.class_names[c] for c in s.face_class] == ["chair"] * 2 + ["wall"] * 2 + ["beanbag"]
    assert s.class_names[-1] == "beanbag" and s.class_names.index("chair") == SYNTH_CLASSES.index("chair")


def test_bad_input_names_file_and_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*Expected layout"):
        load_scannetpp(tmp_path / "missing")
    _hand_written(tmp_path)
    (tmp_path / "scans/segments.json").unlink()
    s = load_scannetpp(tmp_path)  # no annotation: loads unlabelled (split=pretrain needs no labels)
    assert not s.has_labels() and "missing" in s.source and "segments.json" in s.source
    (tmp_path / "scans/segments.json").write_text(json.dumps({"segIndices": [1, 2, 3]}))
    with pytest.raises(ValueError, match=r"segments\.json.*'segIndices'.*expected 11, found 3"):
        load_scannetpp(tmp_path)
    (tmp_path / "scans/segments.json").write_text(json.dumps({"segindices": []}))
    with pytest.raises(ValueError, match=r"segments\.json.*'segIndices'"):
        load_scannetpp(tmp_path)
    _hand_written(tmp_path)
    (tmp_path / "scans/segments_anno.json").write_text(json.dumps({"segGroups": [{"id": 1, "label": "x"}]}))
    with pytest.raises(ValueError, match=r"segments_anno\.json.*objectId"):
        load_scannetpp(tmp_path)
    _hand_written(tmp_path)
    mesh = tmp_path / "scans/mesh_aligned_0.05.ply"
    ply.write_ply(mesh, {"px": np.zeros(3, np.float32), "y": np.zeros(3, np.float32), "z": np.zeros(3, np.float32)},
                  np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"mesh_aligned_0\.05\.ply.*'x'.*found \['px', 'y', 'z'\]"):
        load_scannetpp(tmp_path)


def test_empty_mesh_is_an_error(tmp_path):
    ply.write_ply(tmp_path / "scans/mesh_aligned_0.05.ply", {"x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32),
                  "z": np.zeros(0, np.float32)}, np.zeros((0, 3), np.int32))
    (tmp_path / "scans/segments.json").write_text(json.dumps({"segIndices": []}))
    (tmp_path / "scans/segments_anno.json").write_text(json.dumps({"segGroups": []}))
    with pytest.raises(ValueError, match="empty"):
        load_scannetpp(tmp_path)
