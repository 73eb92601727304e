"""Generic meshes: scene-graph nodes -> instances, names -> classes, colours, textures, up axis, units."""

import warnings

import numpy as np
import pytest
import trimesh
from PIL import Image

from tests.envs.fixtures import make_box_room, write_mesh_fixture
from tst.envs.loaders.mesh import MAX_TEXTURE, clean_name, load_mesh

SIMPLE_ROOM_MAP = {r"^Cube$": "floor", r"^Cube\.00[2-6]$": "table", r"^Cube\.001$": "box"}



def used(scene) -> list[str]:
    """Sorted class names the scene's instances use, plus "unlabelled": loaders now return the canonical
    vocabulary (SYNTH_CLASSES first), so the full list holds unused canonical classes too."""
    return sorted({scene.class_names[c] for c in scene.instance_class} | {"unlabelled"})

def canonical(scene):
    """Triangles as sorted rows (9 corner coords, class name, 9 corner colours): order-free comparison."""
    tri = scene.vertices[scene.faces].reshape(len(scene.faces), 9).astype(np.float64)
    col = scene.vertex_colors[scene.faces].reshape(len(scene.faces), 9)
    names = [scene.class_names[c] for c in scene.face_class]
    rows = sorted(zip(map(tuple, np.round(tri, 6)), names, map(tuple, col.tolist())))
    return rows


@pytest.mark.parametrize("ext", ["glb", "obj"])
def test_box_room_round_trip(tmp_path, ext):
    room = make_box_room()
    s = load_mesh(write_mesh_fixture(room, tmp_path / f"room.{ext}"))
    assert canonical(s) == canonical(room)
    assert used(s) == sorted(room.class_names) and s.num_instances == 7
    assert sorted(s.instance_names.values()) == sorted(["floor_1", "ceiling_2", "wall_3", "wall_4", "wall_5",
                                                       "wall_6", "table_7"])
    np.testing.assert_array_equal(s.bounds, room.bounds)  # the glb was written y-up and comes back z-up


def test_ply_round_trip_keeps_geometry_and_colour_and_warns_no_labels(tmp_path):
    room = make_box_room()
    path = write_mesh_fixture(room, tmp_path / "room.ply")
    with pytest.warns(UserWarning, match=r"room\.ply.*no labelled parts.*semseg 0"):
        s = load_mesh(path)
    np.testing.assert_array_equal(s.vertices, room.vertices)
    np.testing.assert_array_equal(s.faces, room.faces)
    np.testing.assert_array_equal(s.vertex_colors, room.vertex_colors)
    assert used(s) == ["unlabelled"] and (s.face_instance == 0).all()


def test_simple_room_asset_structure_and_bounds(shared_asset):
    s = load_mesh(shared_asset("simple_room.glb"), class_map=SIMPLE_ROOM_MAP)
    # 7 box-shaped nodes of 12 triangles: floor slab, a 2 m block, a table top and 4 legs
    assert used(s) == ["box", "floor", "table", "unlabelled"]
    assert len(s.faces) == 84 and s.num_instances == 7
    assert s.instance_names == {1: "Cube", 2: "Cube.001", 3: "Cube.002", 4: "Cube.003", 5: "Cube.004",
                                6: "Cube.005", 7: "Cube.006"}
    names = np.array(s.class_names)
    assert names[s.instance_class].tolist() == ["unlabelled", "floor", "box", *["table"] * 5]
    assert {n: int((names[s.face_class] == n).sum()) for n in ("box", "floor", "table")} == \
        {"box": 12, "floor": 12, "table": 60}
    # the file is z-up data inside a glb (exported without Blender's +Y-up): the heuristic keeps z up
    assert "z-up" in s.source and "units m" in s.source
    np.testing.assert_allclose(s.bounds, [[-5.2470, -5.3979, -0.0614], [5.2798, 5.4486, 2.1535]], atol=1e-3)

    def box(i):
        v = s.vertices[np.unique(s.faces[s.face_instance == i])]
        return np.stack([v.min(0), v.max(0)])

    np.testing.assert_allclose(box(3), [[-0.45, -0.45, 1.112], [0.95, 0.95, 1.152]], atol=1e-3)  # table top
    for leg in (4, 5, 6, 7):  # 0.15 x 0.15 x 1.0 m legs standing on the slab
        np.testing.assert_allclose(box(leg)[1] - box(leg)[0], [0.15, 0.15, 1.0], atol=1e-3)
    np.testing.assert_allclose(box(2)[1] - box(2)[0], [2, 2, 2], atol=1e-3)

    default = load_mesh(shared_asset("simple_room.glb"))  # no class_map: cleaned node names
    assert used(default) == ["cube", "unlabelled"] and default.num_instances == 7
    forced = load_mesh(shared_asset("simple_room.glb"), up_axis="y")  # spec y-up forced: (x, y, z) -> (x, -z, y)
    np.testing.assert_allclose(forced.bounds[:, 2], [-5.3979, 5.4486], atol=1e-3)


def test_millimetres_and_centimetres_are_detected_or_forced(tmp_path):
    for factor, unit in ((1000.0, "mm"), (100.0, "cm")):
        room = make_box_room()
        room.vertices = room.vertices * np.float32(factor)
        s = load_mesh(write_mesh_fixture(room, tmp_path / f"room_{unit}.obj"))
        assert f"units {unit}" in s.source
        np.testing.assert_allclose(s.bounds, [[0, 0, 0], [4, 3, 2.5]], atol=1e-5)
    s = load_mesh(tmp_path / "room_mm.obj", units="m")
    np.testing.assert_allclose(s.bounds[1], [4000, 3000, 2500], rtol=1e-6)


def test_y_up_obj_is_detected_by_extent(tmp_path):
    room = make_box_room(width=6.0, depth=5.0, height=2.5)  # y-up: y extent 2.5 << z extent 5
    v = room.vertices.copy()
    room.vertices = np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)
    s = load_mesh(write_mesh_fixture(room, tmp_path / "yup.obj"))
    assert "y-up" in s.source
    np.testing.assert_allclose(s.bounds, [[0, 0, 0], [6, 5, 2.5]], atol=1e-6)
    floor = s.vertices[np.unique(s.faces[s.face_class == s.class_id("floor")])]
    assert np.abs(floor[:, 2]).max() < 1e-6  # the floor is at z = 0 again


def _textured_quad(image, uv, name):
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    mat = trimesh.visual.material.PBRMaterial(baseColorTexture=image, baseColorFactor=[255, 255, 255, 255])
    return trimesh.Trimesh(v, f, visual=trimesh.visual.TextureVisuals(uv=uv, material=mat), process=False)


def test_textures_are_packed_into_one_atlas_with_wrapped_uvs(tmp_path):
    small = np.zeros((2, 2, 3), np.uint8)
    small[0, 0], small[0, 1], small[1, 0], small[1, 1] = [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]
    big = np.zeros((600, 1024, 3), np.uint8)
    big[:, :512] = [10, 20, 30]
    big[:, 512:] = [40, 50, 60]
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    sc = trimesh.Scene()
    sc.add_geometry(_textured_quad(Image.fromarray(small), uv, "a"), node_name="rug_1", geom_name="rug_1")
    sc.add_geometry(_textured_quad(Image.fromarray(big), uv + [2, 3], "b"), node_name="rug_2", geom_name="rug_2",
                    transform=trimesh.transformations.translation_matrix([0, 0, 1]))
    plain = trimesh.Trimesh([[0, 0, 2], [1, 0, 2], [0, 1, 2]], [[0, 1, 2]], process=False)
    sc.add_geometry(plain, node_name="shelf_3", geom_name="shelf_3")
    sc.export(str(tmp_path / "tex.glb"))
    s = load_mesh(tmp_path / "tex.glb", up_axis="z")  # keep the file's axes: quads lie in the x-y plane
    tex, uvs = s.texture, s.corner_uv
    assert tex is not None and (tex[0, 0] == 255).all()
    # the 1024 x 600 texture was downscaled to 512 x 300: the atlas is one 512 px column plus a gutter
    assert tex.shape[1] <= MAX_TEXTURE + 2 and tex.shape[0] <= 300 + 2 + 2 + 4 + 2 + 2
    h, w = tex.shape[:2]

    def texel(u, v):  # nearest texel, as the renderer samples
        return tex[int(v * h), int(u * w)].tolist()

    rug1 = np.flatnonzero(s.face_instance == 1)
    # uv as given to trimesh has v up: uv (0, 0) is the image's bottom-left texel, (0, 1) its top-left
    corners = {tuple(np.round(s.vertices[s.faces[f, k]][:2], 3)): texel(*uvs[f, k]) for f in rug1 for k in range(3)}
    assert corners[(0.0, 0.0)] == [0, 0, 255] and corners[(1.0, 0.0)] == [255, 255, 0]
    assert corners[(1.0, 1.0)] == [0, 255, 0] and corners[(0.0, 1.0)] == [255, 0, 0]
    rug2 = np.flatnonzero(s.face_instance == 2)  # uv + (2, 3) wraps back onto the same image corners
    left = [texel(*uvs[f, k]) for f in rug2 for k in range(3) if s.vertices[s.faces[f, k]][0] < 0.5]
    right = [texel(*uvs[f, k]) for f in rug2 for k in range(3) if s.vertices[s.faces[f, k]][0] > 0.5]
    assert all(c == [10, 20, 30] for c in left) and all(c == [40, 50, 60] for c in right)
    shelf = np.flatnonzero(s.face_instance == 3)
    assert (uvs[shelf] == 0).all()  # untextured -> the white texel


def test_clean_name():
    assert clean_name("Chair.001") == "chair"
    assert clean_name("dining_table_2") == "dining table"
    assert clean_name("Wall-3 ") == "wall"
    assert clean_name("TV") == "tv"


def test_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.glb.*\.glb.*\.obj.*\.ply"):
        load_mesh(tmp_path / "nothere.glb")
    (tmp_path / "a.fbx").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"a\.fbx.*unsupported.*\.glb"):
        load_mesh(tmp_path / "a.fbx")
    (tmp_path / "bad.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    with pytest.raises(ValueError, match=r"bad\.glb.*could not be read"):
        load_mesh(tmp_path / "bad.glb")
    (tmp_path / "points.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n"
                                         "property float y\nproperty float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match=r"points\.ply.*empty scene"):
        load_mesh(tmp_path / "points.ply")
    write_mesh_fixture(make_box_room(), tmp_path / "r.obj")
    with pytest.raises(ValueError, match=r"class_map pattern '\(' is not a valid regex"):
        load_mesh(tmp_path / "r.obj", class_map={"(": "x"})
    with pytest.raises(ValueError, match="units must be one of"):
        load_mesh(tmp_path / "r.obj", units="inch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a labelled file loads without the no-label warning
        s = load_mesh(tmp_path / "r.obj", class_map={"^wall": "partition", "table": "unlabelled"})
    assert used(s) == ["ceiling", "floor", "partition", "unlabelled"]
    assert np.count_nonzero(s.face_class == 0) == 12  # the table's 12 triangles are now unlabelled


def test_obj_map_kd_gltf_with_buffers_and_face_colours(tmp_path):
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0], img[0, 1], img[1, 0], img[1, 1] = [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    mat = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(img), diffuse=[255, 128, 255, 255])
    quad = trimesh.Trimesh(v, f, visual=trimesh.visual.TextureVisuals(uv=v[:, :2], material=mat), process=False)
    sc = trimesh.Scene()
    sc.add_geometry(quad, node_name="rug_1", geom_name="rug_1")
    for name in ("t.obj", "t.gltf"):  # obj + mtl + map_Kd png; gltf json + external .bin buffers
        sc.export(str(tmp_path / name))
        s = load_mesh(tmp_path / name, up_axis="z")
        assert used(s) == ["rug", "unlabelled"]
        h, w = s.texture.shape[:2]
        got = {tuple(s.vertices[s.faces[fi, k]][:2].tolist()): s.texture[int(s.corner_uv[fi, k, 1] * h),
                                                                         int(s.corner_uv[fi, k, 0] * w)].tolist()
               for fi in range(2) for k in range(3)}
        assert got == {(0, 0): [0, 0, 255], (1, 0): [255, 255, 0], (1, 1): [0, 255, 0], (0, 1): [255, 0, 0]}
        if name.endswith(".obj"):  # Kd multiplies the texture as the vertex colour
            assert (s.vertex_colors == [255, 128, 255]).all()

    faces_coloured = trimesh.Trimesh(v, f, face_colors=[[10, 20, 30, 255], [40, 50, 60, 255]], process=False)
    faces_coloured.export(str(tmp_path / "fc.ply"))
    with pytest.warns(UserWarning, match="no labelled parts"):
        s = load_mesh(tmp_path / "fc.ply")
    assert len(s.vertices) == 6  # corners unshared so that each face keeps its own colour
    np.testing.assert_array_equal(s.vertex_colors[s.faces[0]], [[10, 20, 30]] * 3)
    np.testing.assert_array_equal(s.vertex_colors[s.faces[1]], [[40, 50, 60]] * 3)
    np.testing.assert_array_equal(s.vertices[s.faces], v[f])
