"""generate_apartment: deterministic, valid, labelled with the shared vocabulary, textured."""

import numpy as np
import pytest

from tests.envs.synth.checks import instance_boxes
from tst.envs.synth.generator import generate_apartment
from tst.envs.vocabulary import ROOM_TYPES, STRUCTURE_CLASSES, SYNTH_CLASSES

ARRAYS = ("vertices", "faces", "face_instance", "instance_class", "vertex_colors", "corner_uv", "texture")


@pytest.fixture(scope="module")
def apt0():
    return generate_apartment(0)


def test_same_seed_is_bit_identical():
    a, b = generate_apartment(3), generate_apartment(3)
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    assert [(r.name, r.polygon.tolist(), r.ceiling_z) for r in a.rooms] == \
           [(r.name, r.polygon.tolist(), r.ceiling_z) for r in b.rooms]
    assert a.instance_names == b.instance_names and a.scene_id == "synth-0003"


def test_different_seeds_are_different_apartments(apt0):
    other = generate_apartment(1)
    assert not np.array_equal(apt0.bounds, other.bounds)
    plans = {tuple(np.round(np.concatenate([r.polygon.ravel() for r in s.rooms]), 3))
             for s in (apt0, other, generate_apartment(2))}
    assert len(plans) == 3  # three different floor plans


def test_scene_contract(apt0):
    s = apt0.validate()
    assert s.class_names == SYNTH_CLASSES  # the same vocabulary (and ids) for every seed
    assert s.faces.dtype == np.int32 and s.vertices.dtype == np.float32 and s.face_instance.dtype == np.int32
    assert s.vertex_colors.dtype == np.uint8 and s.texture.dtype == np.uint8 and s.corner_uv.dtype == np.float32
    assert (s.texture[0, 0] == 255).all()
    assert s.corner_uv.min() >= 0 and s.corner_uv.max() <= 1
    assert 2_000 < len(s.faces) < 60_000  # modest triangle budget
    tri = s.vertices[s.faces].astype(np.float64)  # [F, 3, 3]
    assert (np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) > 1e-6).all()  # no slivers
    # every instance id is used by some face, and every instance has a class
    assert np.array_equal(np.unique(s.face_instance), np.arange(1, len(s.instance_class)))
    assert (s.instance_class[1:] > 0).all()
    # z-up metres: floor at 0, ceiling at room height
    lo, hi = s.bounds
    assert lo[2] == 0.0 and 2.5 <= hi[2] <= 2.9
    assert {np.float32(r.ceiling_z) for r in s.rooms} == {hi[2]}


def test_rooms_and_structure_per_room(apt0):
    kinds = [r.name for r in apt0.rooms]
    assert {"living room", "bedroom", "kitchen", "bathroom"} <= set(kinds) <= set(ROOM_TYPES)
    per_class = {c: int((apt0.instance_class == apt0.class_id(c)).sum()) for c in STRUCTURE_CLASSES}
    n = len(apt0.rooms)
    assert per_class["wall"] == per_class["floor"] == per_class["ceiling"] == n  # one instance each per room
    assert per_class["door"] >= n - 1  # a spanning tree of doors at least
    assert per_class["window"] >= 1
    # every room's floor instance covers its polygon, at z = 0
    lo, hi = instance_boxes(apt0)
    floors = [i for i in range(1, len(apt0.instance_class)) if apt0.instance_class[i] == apt0.class_id("floor")]
    for room in apt0.rooms:
        (x0, y0), (x1, y1) = room.polygon.min(0), room.polygon.max(0)
        assert any(lo[i, 0] <= x0 and lo[i, 1] <= y0 and hi[i, 0] >= x1 and hi[i, 1] >= y1 and hi[i, 2] == 0
                   for i in floors), room.name


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_at_least_20_classes_per_default_apartment(seed):
    s = generate_apartment(seed)
    used = {s.class_names[c] for c in np.unique(s.face_class) if c > 0}
    assert len(used) >= 20, sorted(used)
    assert {"wall", "floor", "ceiling", "door", "window", "bed", "sofa", "table", "toilet", "fridge"} <= used


def test_num_rooms_is_honoured_and_checked():
    for n in (1, 3, 7):
        assert len(generate_apartment(5, num_rooms=n).rooms) == n
    with pytest.raises(ValueError, match="num_rooms"):
        generate_apartment(0, num_rooms=0)
    with pytest.raises(ValueError, match="seed"):
        generate_apartment(-1)


def _sample_colours(s, faces: np.ndarray, rng, per_face: int = 8) -> np.ndarray:
    """[N, 3] colours seen at random points of the given faces: texel x vertex colour / 255."""
    f = np.repeat(faces, per_face)
    w = rng.dirichlet(np.ones(3), len(f))  # [N, 3] barycentrics
    uv = np.einsum("nk,nkc->nc", w, s.corner_uv[f])  # [N, 2]
    h, wd = s.texture.shape[:2]
    tex = s.texture[np.clip((uv[:, 1] * h).astype(int), 0, h - 1), np.clip((uv[:, 0] * wd).astype(int), 0, wd - 1)]
    col = np.einsum("nk,nkc->nc", w, s.vertex_colors[s.faces[f]].astype(np.float64))
    return tex.astype(np.float64) * col / 255.0


@pytest.mark.parametrize("cls", ["wall", "floor", "bed", "sofa", "table", "picture", "plant", "rug"])
def test_textures_are_not_flat_within_one_instance(apt0, cls):
    """Colour varies inside a single instance (one tint), so the variation comes from the texture."""
    rng = np.random.default_rng(0)
    ids = [i for i in range(1, len(apt0.instance_class)) if apt0.instance_class[i] == apt0.class_id(cls)]
    assert ids, f"seed 0 has no {cls}"
    faces = np.flatnonzero(apt0.face_instance == ids[0])
    colours = _sample_colours(apt0, faces, rng)
    assert colours.std(0).max() > 3.0, colours.std(0)
