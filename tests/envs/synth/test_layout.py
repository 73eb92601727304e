"""Floor plans: rooms tile the footprint, doors open both walls at the same place, windows are
on the outside, and a small seeded apartment exports to Replica and loads back unchanged."""

import numpy as np
import pytest

from tst.envs.synth.layout import DOOR_HEIGHT, HALF_WALL, SIDES, make_floor_plan, side_span
from tst.envs.synth.structure import wall_boxes


@pytest.fixture(params=range(12))
def plan(request):
    return make_floor_plan(np.random.default_rng(request.param))


def test_rooms_tile_the_footprint(plan):
    rects = np.array([r.rect for r in plan.rooms])  # [N, 4]
    area = ((rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1])).sum()
    assert np.isclose(area, plan.width * plan.depth)
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            a, b = rects[i], rects[j]
            ox = min(a[2], b[2]) - max(a[0], b[0])
            oy = min(a[3], b[3]) - max(a[1], b[1])
            assert ox <= 1e-9 or oy <= 1e-9  # interiors disjoint


def test_doors_open_both_rooms_at_the_same_place(plan):
    assert len(plan.doors) >= len(plan.rooms) - 1
    for d in plan.doors:
        for k in d.rooms:
            ops = [o for s in SIDES for o in plan.rooms[k].openings[s] if o.kind == "door"]
            assert any(o.a0 == d.a0 and o.a1 == d.a1 and o.z0 == 0 and o.z1 == DOOR_HEIGHT for o in ops)
        assert 0.85 - 1e-9 <= d.a1 - d.a0 <= 1.0 + 1e-9


def test_windows_on_exterior_walls_only(plan):
    for r in plan.rooms:
        for s in SIDES:
            lo, hi = side_span(r.rect, s)
            for o in r.openings[s]:
                assert lo < o.a0 < o.a1 < hi
                if o.kind == "window":
                    assert s in r.exterior and 0.5 < o.z0 < o.z1 < plan.height


def test_wall_boxes_leave_exactly_the_openings(plan):
    """Per side, wall volume = full slab minus the openings' holes (nothing doubled, nothing lost)."""
    for r in plan.rooms:
        vol = sum(np.prod(np.subtract(hi, lo)) for lo, hi in wall_boxes(r, plan.height))
        x0, y0, x1, y1 = r.rect
        full = HALF_WALL * plan.height * (2 * (x1 - x0) + 2 * (y1 - y0 - 2 * HALF_WALL))
        holes = sum(HALF_WALL * (o.a1 - o.a0) * (o.z1 - o.z0) for s in SIDES for o in r.openings[s])
        assert np.isclose(vol, full - holes)


def test_export_round_trips_through_the_replica_loader(tmp_path):
    from hydra import compose, initialize_config_dir

    from tst.cli import config_dir
    from tst.envs.export import run
    from tst.envs.loaders.replica import load_replica
    from tst.envs.synth.generator import generate_apartment

    out = tmp_path / "apt"
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="export", overrides=["scene.seed=3", "scene.num_rooms=4", f"out={out}"])
    metrics = run(cfg)
    src = generate_apartment(3, num_rooms=4)
    back = load_replica(out)
    assert metrics["export/triangles"] == len(src.faces) == len(back.faces)
    assert metrics["export/instances"] == src.num_instances
    assert np.array_equal(back.vertices, src.vertices)
    assert np.array_equal(back.faces, src.faces)
    assert back.class_names == src.class_names  # the whole vocabulary, same ids
    assert np.array_equal(back.face_instance, src.face_instance)
    assert np.array_equal(back.face_class, src.face_class)
    assert (out / "config.yaml").exists() and (out / "metrics.json").exists()
