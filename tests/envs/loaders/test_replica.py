"""Replica: the loader reads habitat's real on-disk layout (quads, uint16 or int32 object_id)."""

import json

import numpy as np
import pytest

from tests.envs.fixtures import BOX_ROOM_COLORS, instance_centroid, make_box_room, write_replica_fixture
from tst.envs.loaders import ply
from tst.envs.loaders.replica import load_replica, write_replica
from tst.envs.vocabulary import SYNTH_CLASSES


@pytest.mark.parametrize("quads,object_id_type", [(True, "int32"), (True, "uint16"), (False, "int32")])
def test_box_room_round_trip_is_exact(tmp_path, quads, object_id_type):
    room = make_box_room()
    write_replica_fixture(room, tmp_path / "room0", quads=quads, object_id_type=object_id_type)
    # the files are what habitat's release looks like
    header = (tmp_path / "room0/habitat/mesh_semantic.ply").read_bytes()[:400].decode("ascii", "replace")
    assert "format binary_little_endian 1.0" in header
    assert {"int32": "property int object_id", "uint16": "property ushort object_id"}[object_id_type] in header
    sem = ply.read_ply(tmp_path / "room0/habitat/mesh_semantic.ply", {"face": ("vertex_indices",)})
    assert ply.face_polygons(sem).shape == ((12, 4) if quads else (24, 3))
    mesh_header = (tmp_path / "room0/mesh.ply").read_bytes()[:400].decode("ascii", "replace")
    for prop in ("float x", "float nx", "uchar red", "list uchar int vertex_indices"):
        assert f"property {prop}" in mesh_header

    s = load_replica(tmp_path / "room0")
    np.testing.assert_array_equal(s.vertices, room.vertices)
    np.testing.assert_array_equal(s.faces, room.faces)  # quads re-triangulate to the same triangles
    np.testing.assert_array_equal(s.face_instance, room.face_instance)
    assert s.class_names[:len(SYNTH_CLASSES)] == SYNTH_CLASSES  # canonical vocabulary, ids shared with synth
    assert [s.class_names[c] for c in s.face_class] == [room.class_names[c] for c in room.face_class]
    np.testing.assert_array_equal(s.vertex_colors, room.vertex_colors)
    np.testing.assert_allclose(instance_centroid(s, 7), [2.0, 1.5, 0.375], atol=1e-6)
    assert s.scene_id == "room0"


def test_real_layout_with_void_ids_sparse_classes_and_mixed_polygons(tmp_path):
    """Hand-written files: class ids not 1..K, void object (-1 via id_to_label), a triangle among quads."""
    root = tmp_path / "apt"
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]], np.float32)
    cols = np.array([[10, 20, 30]] * 6, np.uint8)
    xyz = {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2]}
    rgb = {"red": cols[:, 0], "green": cols[:, 1], "blue": cols[:, 2]}
    normals = {"nx": np.zeros(6, np.float32), "ny": np.zeros(6, np.float32), "nz": np.ones(6, np.float32)}
    ply.write_ply(root / "mesh.ply", {**xyz, **normals, **rgb}, np.array([[0, 1, 2, 3]]))
    import plyfile  # mixed polygon sizes need plyfile's object lists

    vert = np.array([tuple(r) for r in np.concatenate([v, cols], 1).tolist()],
                    dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    face = np.empty(3, dtype=[("vertex_indices", object), ("object_id", "i4")])
    face["vertex_indices"] = [np.array([0, 1, 2, 3], "i4"), np.array([0, 1, 5], "i4"), np.array([0, 4, 5, 1], "i4")]
    face["object_id"] = [12, 0, 3]
    (root / "habitat").mkdir(parents=True)
    plyfile.PlyData([plyfile.PlyElement.describe(vert, "vertex"), plyfile.PlyElement.describe(face, "face")],
                    byte_order="<").write(str(root / "habitat/mesh_semantic.ply"))
    id_to_label = [-1] * 13
    id_to_label[3], id_to_label[12] = 40, 7
    info = {"classes": [{"id": 40, "name": "wall"}, {"id": 7, "name": "floor"}, {"id": 0, "name": "undefined"}],
            "objects": [{"id": 3, "class_id": 40, "class_name": "wall", "oriented_bbox": {}},
                        {"id": 12, "class_id": 7, "class_name": "floor", "oriented_bbox": {}}],
            "id_to_label": id_to_label}
    (root / "habitat/info_semantic.json").write_text(json.dumps(info))

    s = load_replica(root)
    assert s.class_names == SYNTH_CLASSES  # floor and wall are canonical names: nothing appended
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [0, 2, 3], [0, 1, 5], [0, 4, 5], [0, 5, 1]])
    np.testing.assert_array_equal(s.face_instance, [12, 12, 0, 3, 3])
    assert [s.class_names[c] for c in s.face_class] == ["floor", "floor", "unlabelled", "wall", "wall"]
    assert s.vertex_colors[0].tolist() == [10, 20, 30]
    assert s.vertices[:, 2].max() == 1.0  # z-up kept: habitat's y-up rotation is not applied


def test_missing_file_names_it_and_the_layout(tmp_path):
    write_replica(make_box_room(), tmp_path / "r")
    (tmp_path / "r/habitat/info_semantic.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"info_semantic\.json.*Expected layout.*mesh\.ply.*mesh_semantic"):
        load_replica(tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_replica(tmp_path / "nowhere")


def test_wrong_property_names_the_file_and_the_property(tmp_path):
    room = make_box_room()
    write_replica(room, tmp_path / "r")
    v = room.vertices
    ply.write_ply(tmp_path / "r/habitat/mesh_semantic.ply", {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2]}, room.faces,
                  {"segment_id": room.face_instance})
    with pytest.raises(ValueError, match=r"mesh_semantic\.ply.*'object_id'.*found \['vertex_indices', 'segment_id'\]"):
        load_replica(tmp_path / "r")


def test_malformed_ply_and_json_and_empty_scene(tmp_path):
    room = make_box_room()
    write_replica(room, tmp_path / "r")
    sem = tmp_path / "r/habitat/mesh_semantic.ply"
    sem.write_bytes(sem.read_bytes()[:300])  # truncated body
    with pytest.raises(ValueError, match=r"mesh_semantic\.ply: the file is incomplete.*element .vertex.*re-download"):
        load_replica(tmp_path / "r")
    write_replica(room, tmp_path / "r")
    (tmp_path / "r/mesh.ply").write_text("hello\n")
    with pytest.raises(ValueError, match=r"mesh\.ply.*first line must be 'ply'"):
        load_replica(tmp_path / "r")
    write_replica(room, tmp_path / "r")
    (tmp_path / "r/habitat/info_semantic.json").write_text('{"objects": []}')
    with pytest.raises(ValueError, match=r"info_semantic\.json.*'classes'"):
        load_replica(tmp_path / "r")
    write_replica(room, tmp_path / "r")
    zero = np.zeros(3, np.float32)
    ply.write_ply(sem, {"x": zero, "y": zero, "z": zero}, np.zeros((0, 4), np.int32),
                  {"object_id": np.zeros(0, np.int32)})
    with pytest.raises(ValueError, match="empty"):
        load_replica(tmp_path / "r")


def test_textured_scene_is_written_with_texture_in_vertex_colours(tmp_path):
    room = make_box_room()
    tex = np.full((4, 4, 3), 255, np.uint8)
    tex[2:, 2:] = [100, 0, 0]  # the table samples this quadrant
    uv = np.zeros((len(room.faces), 3, 2), np.float32)
    uv[room.face_instance == 7] = 0.8
    room.texture, room.corner_uv = tex, uv
    write_replica(room, tmp_path / "t")
    s = load_replica(tmp_path / "t")
    table_v = np.unique(s.faces[s.face_instance == 7])
    expect = np.round(BOX_ROOM_COLORS[7] * np.array([100, 0, 0]) / 255).astype(np.uint8)
    assert (s.vertex_colors[table_v] == expect).all()
    floor_v = np.unique(s.faces[s.face_instance == 1])
    assert (s.vertex_colors[floor_v] == BOX_ROOM_COLORS[1]).all()


def test_replica_spellings_map_to_the_canonical_vocabulary(tmp_path):
    room = make_box_room()
    room.class_names = ["unlabelled", "indoor-plant", "wall-plug", "Couch", "tv-screen"]  # every class used
    write_replica(room, tmp_path / "r")
    s = load_replica(tmp_path / "r")
    got = {room.class_names[c]: s.class_names[k] for c, k in zip(room.face_class, s.face_class)}
    assert got == {"indoor-plant": "plant", "wall-plug": "socket", "Couch": "sofa", "tv-screen": "tv"}
    assert "indoor-plant" not in s.class_names and "indoor plant" not in s.class_names
