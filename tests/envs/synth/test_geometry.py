"""Physical plausibility of generated apartments, checked on the triangles: nothing intersects,
clutter rests exactly on a surface, every room is walkable from every other through doors."""

import numpy as np
import pytest

from tests.envs.synth.checks import (
    instance_boxes,
    intersections,
    object_ids,
    room_components,
    support_of,
    walk_grid,
)
from tst.envs.synth.generator import generate_apartment
from tst.envs.synth.mesh import box
from tst.envs.vocabulary import CLUTTER_CLASSES

SEEDS = [0, 1, 2, 3]


@pytest.fixture(scope="module", params=SEEDS)
def apt(request):
    return generate_apartment(request.param)


def test_no_object_intersects_walls_or_other_objects(apt):
    assert intersections(apt) == []


def test_intersection_check_catches_a_chair_in_a_wall(apt):
    """The check itself works: push one object 10 cm into the nearest wall and it is reported."""
    lo, hi = instance_boxes(apt)
    sofa = next(i for i in object_ids(apt) if apt.instance_class[i] == apt.class_id("sofa"))
    room = next(r for r in apt.rooms if np.all(r.polygon.min(0) <= lo[sofa, :2] + 1e-5)
                and np.all(r.polygon.max(0) >= hi[sofa, :2] - 1e-5))
    gaps = np.concatenate([lo[sofa, :2] - room.polygon.min(0), room.polygon.max(0) - hi[sofa, :2]])  # [4]
    k = int(np.argmin(gaps))
    shift = np.zeros(3, np.float32)
    shift[k % 2] = (-1 if k < 2 else 1) * (gaps[k] + 0.1)
    moved = apt.vertices.copy()
    verts = np.unique(apt.faces[apt.face_instance == sofa])
    moved[verts] += shift
    bad = type(apt)(**{**apt.__dict__, "vertices": moved})
    assert any("walls" in other for obj, other in intersections(bad) if "sofa" in obj)


def test_objects_stand_inside_one_room(apt):
    lo, hi = instance_boxes(apt)
    for i in object_ids(apt):
        assert any(np.all(r.polygon.min(0) <= lo[i, :2] + 1e-5) and np.all(r.polygon.max(0) >= hi[i, :2] - 1e-5)
                   and hi[i, 2] <= r.ceiling_z for r in apt.rooms), apt.instance_names[i]


def test_clutter_rests_exactly_on_a_supporting_surface(apt):
    lo, hi = instance_boxes(apt)
    clutter = [i for i in object_ids(apt) if apt.class_names[apt.instance_class[i]] in CLUTTER_CLASSES]
    assert len(clutter) >= 5
    hanging = {apt.class_id("picture"), apt.class_id("mirror")}
    for i in object_ids(apt):
        name = apt.instance_names[i]
        if int(apt.instance_class[i]) in hanging:
            assert lo[i, 2] >= 1.0, name  # hung on a wall, not standing
            continue
        if lo[i, 2] == 0.0:
            assert apt.class_names[apt.instance_class[i]] not in CLUTTER_CLASSES, f"{name} on the floor"
            continue
        j = support_of(apt, i)
        assert j is not None, f"{name} floats at z={lo[i, 2]}"
        # support_of found upward faces exactly (float32 ==) at the bottom, covering the footprint
        assert apt.class_names[apt.instance_class[j]] not in ("wall", "ceiling", "door", "window"), name


def test_every_room_reachable_from_every_other_through_doors(apt):
    per_room, lab, masks = room_components(apt)
    assert all(per_room), "a room has no free floor at all"
    main = np.bincount(lab[lab > 0]).argmax()
    for room, ids, m in zip(apt.rooms, per_room, masks):
        assert main in ids, f"{room.name} is not connected to the rest"
        # free floor: the walkable component covers a fair share of each room
        assert (lab[m] == main).mean() > 0.15, room.name


def test_walls_without_doors_would_disconnect_rooms(apt):
    """The reachability check is not vacuous: with the door openings filled, rooms are cut off."""
    doors = np.flatnonzero(apt.instance_class == apt.class_id("door"))
    lo, hi = instance_boxes(apt)
    plugs = [box(lo[d], np.maximum(hi[d], lo[d] + [0, 0, 2.0]), 0) for d in doors]
    v = np.concatenate([apt.vertices] + [p.verts.astype(np.float32) for p in plugs])
    f, n = [apt.faces], len(apt.vertices)
    for p in plugs:
        f.append((p.faces + n).astype(np.int32))
        n += len(p.verts)
    wall = int(np.flatnonzero(apt.instance_class == apt.class_id("wall"))[0])
    fi = np.concatenate([apt.face_instance, np.full(sum(len(p.faces) for p in plugs), wall, np.int32)])
    plugged = type(apt)(**{**apt.__dict__, "vertices": v, "faces": np.concatenate(f), "face_instance": fi,
                           "vertex_colors": None, "corner_uv": None, "texture": None})
    per_room, lab, _ = room_components(plugged)
    assert len(set().union(*per_room)) >= len(apt.rooms)  # no component is shared by two rooms


def test_walk_grid_blocks_walls():
    s = generate_apartment(0, num_rooms=1)
    free, cx, cy = walk_grid(s, body=0.2)
    (x0, y0), (x1, y1) = s.rooms[0].polygon.min(0), s.rooms[0].polygon.max(0)
    inside = (cx[:, None] > x0 + 0.3) & (cx[:, None] < x1 - 0.3) & (cy[None] > y0 + 0.3) & (cy[None] < y1 - 0.3)
    near_wall = (cx[:, None] < x0 + 0.15) | (cx[:, None] > x1 - 0.15) | (cy[None] < y0 + 0.15) | (cy[None] > y1 - 0.15)
    assert not free[near_wall].any()
    assert free[inside].mean() > 0.3


def test_support_check_notices_a_floating_cup():
    s = generate_apartment(0)
    lo, _ = instance_boxes(s)
    i = next(i for i in object_ids(s) if s.class_names[s.instance_class[i]] in CLUTTER_CLASSES and lo[i, 2] > 0)
    assert support_of(s, i) is not None
    lifted = s.vertices.copy()
    lifted[np.unique(s.faces[s.face_instance == i]), 2] += np.float32(0.001)
    assert support_of(type(s)(**{**s.__dict__, "vertices": lifted}), i) is None


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4, 16))
def test_more_seeds_are_plausible(seed):
    """The same physical checks over more seeds (plans, room programs and retries vary a lot)."""
    s = generate_apartment(seed)
    assert intersections(s) == []
    per_room, lab, _ = room_components(s)
    main = np.bincount(lab[lab > 0]).argmax()
    assert all(main in ids for ids in per_room)
    assert len({c for c in np.unique(s.face_class) if c > 0}) >= 20
