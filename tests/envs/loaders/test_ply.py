"""PLY helpers: our packed binary writer is read back by plain plyfile, polygons fan exactly."""

import numpy as np
import plyfile
import pytest

from tst.envs.loaders import ply


def _vertex(n=5):
    rng = np.random.default_rng(0)
    return {"x": rng.random(n).astype(np.float32), "y": rng.random(n).astype(np.float32),
            "z": rng.random(n).astype(np.float64), "red": np.arange(n, dtype=np.uint8)}


@pytest.mark.parametrize("binary", [True, False])
def test_written_file_is_read_identically_by_plyfile(tmp_path, binary):
    vertex = _vertex()
    quads = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    oid = np.array([70000, -5], np.int32)
    ply.write_ply(tmp_path / "m.ply", vertex, quads, {"object_id": oid, "w": np.array([1, 2], np.uint16)},
                  binary=binary, comments=("made by tst",))
    data = plyfile.PlyData.read(str(tmp_path / "m.ply"), mmap=False)  # the general reader
    assert data.text is not binary and data.comments == ["made by tst"]
    for k, a in vertex.items():
        np.testing.assert_array_equal(data["vertex"][k], a)
        assert data["vertex"][k].dtype == a.dtype
    np.testing.assert_array_equal(np.stack(list(data["face"]["vertex_indices"])), quads)
    np.testing.assert_array_equal(data["face"]["object_id"], oid)
    assert data["face"]["w"].dtype == np.uint16


def test_triangulate_mixed_polygons_keeps_file_order():
    tri, src = ply.triangulate([np.array([0, 1, 2, 3, 4]), np.array([5, 6]), np.array([7, 8, 9])])
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3], [0, 3, 4], [7, 8, 9]])
    np.testing.assert_array_equal(src, [0, 0, 0, 2])  # the 2-corner polygon is dropped


def test_pair_quads_is_the_inverse_of_triangulate_only_for_quad_pairs():
    quads = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    tri, _ = ply.triangulate(quads)
    np.testing.assert_array_equal(ply.pair_quads(tri), quads)
    assert ply.pair_quads(tri[:3]) is None
    assert ply.pair_quads(np.array([[0, 1, 2], [2, 1, 3]])) is None


def test_header_check_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ply"):
        ply.check_header(tmp_path / "nope.ply", {})
    (tmp_path / "h.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n")
    with pytest.raises(ValueError, match="no 'end_header'"):
        ply.check_header(tmp_path / "h.ply", {})
    ply.write_ply(tmp_path / "g.ply", _vertex(), np.array([[0, 1, 2]]))
    assert ply.check_header(tmp_path / "g.ply", {"vertex": ("x",)})["vertex"] == ["x", "y", "z", "red"]
    with pytest.raises(ValueError, match=r"g\.ply.*element 'vertex' has no property 'nx'.*found \['x', 'y', 'z', 'red'\]"):
        ply.check_header(tmp_path / "g.ply", {"vertex": ("x", "nx")})
    with pytest.raises(ValueError, match=r"g\.ply.*element 'edge' is missing"):
        ply.read_ply(tmp_path / "g.ply", {"edge": ("vertex1",)})
