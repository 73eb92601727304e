"""The box-room fixture is a geometric contract other tests rely on: pin it exactly."""

import numpy as np

from tests.envs.fixtures import BOX_ROOM_CLASSES, face_centroids, instance_centroid, make_box_room


def test_box_room_layout_is_exact():
    s = make_box_room(width=4.0, depth=3.0, height=2.5, table_size=(1.0, 0.6, 0.75), table_center=(2.0, 1.5))
    assert s.class_names == BOX_ROOM_CLASSES
    np.testing.assert_array_equal(s.bounds, [[0, 0, 0], [4, 3, 2.5]])
    assert len(s.faces) == 24 and len(s.vertices) == 48
    # every face's normal: room surfaces point inwards, table faces outwards
    tri = s.vertices[s.faces].astype(np.float64)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    c = face_centroids(s)
    room_mid = np.array([2.0, 1.5, 1.25])
    is_table = s.face_instance == 7
    assert (np.einsum("fk,fk->f", n, room_mid - c)[~is_table] > 0).all()
    table_mid = np.array([2.0, 1.5, 0.375])
    assert (np.einsum("fk,fk->f", n, c - table_mid)[is_table] > 0).all()
    # floor at z = 0 facing up, ceiling at z = 2.5 facing down
    np.testing.assert_allclose(n[s.face_instance == 1], [[0, 0, 1]] * 2)
    np.testing.assert_allclose(c[s.face_instance == 2][:, 2], 2.5)
    # table: 12 triangles spanning its documented box
    tv = s.vertices[np.unique(s.faces[is_table])]
    np.testing.assert_allclose(tv.min(0), [1.5, 1.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(tv.max(0), [2.5, 1.8, 0.75], atol=1e-6)
    np.testing.assert_allclose(instance_centroid(s, 7), [2.0, 1.5, 0.375], atol=1e-6)
    assert [s.class_names[k] for k in s.face_class[::2]] == (
        ["floor", "ceiling"] + ["wall"] * 4 + ["table"] * 6)
