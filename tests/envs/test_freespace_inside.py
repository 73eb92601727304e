"""check_pose / is_free refuse points inside furniture, for every furniture class of the generator.

Ground truth is the generalised winding number of the object's own triangles (solid angles summed,
van Oosterom & Strackee), independent of the ray casts FreeSpace uses: |w| > 0.9 is inside a closed part.
"""

from __future__ import annotations

import numpy as np
import pytest

from tst.envs.freespace import FreeSpace, PoseError
from tst.envs.synth.generator import generate_apartment
from tst.envs.vocabulary import STRUCTURE_CLASSES


def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[n] generalised winding number of the triangles at each point (1 inside a closed outward mesh)."""
    a, b, c = (vertices[faces[:, i]][None] - points[:, None] for i in range(3))  # [n, F, 3]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    num = np.einsum("nfc,nfc->nf", a, np.cross(b, c))
    den = (la * lb * lc + np.einsum("nfc,nfc->nf", a, b) * lc + np.einsum("nfc,nfc->nf", b, c) * la
           + np.einsum("nfc,nfc->nf", c, a) * lb)
    return 2 * np.arctan2(num, den).sum(axis=1) / (4 * np.pi)


@pytest.fixture(scope="module")
def interiors():
    """{class: (FreeSpace, [m, 3] points inside that class's objects, >= 3 cm from every surface)}."""
    rng = np.random.default_rng(0)
    out: dict[str, list] = {}
    for seed in range(3):
        scene = generate_apartment(seed=seed)
        fs = FreeSpace(scene, threads=1)
        v = scene.vertices.astype(np.float64)
        for inst in range(1, scene.num_instances + 1):
            name = scene.class_names[scene.instance_class[inst]]
            if name in STRUCTURE_CLASSES:
                continue
            f = scene.faces[scene.face_instance == inst]
            lo, hi = v[np.unique(f)].min(0), v[np.unique(f)].max(0)
            p = rng.uniform(lo, hi, size=(300, 3))
            p = p[np.abs(winding_number(v, f, p)) > 0.9]
            p = p[fs.distance(p) >= 0.03]
            if len(p):
                out.setdefault(name, []).append((fs, p))
    return out


def test_every_furniture_class_is_solid(interiors):
    # the generator's floor-standing and wall-hung classes, each with interior points to test
    for name in ("bed", "sofa", "chair", "cabinet", "nightstand", "wardrobe", "counter", "fridge", "oven",
                 "sink", "toilet", "bathtub", "lamp", "plant", "desk", "pillow"):
        assert name in interiors, f"no {name} with an interior in seeds 0-2"
    for name, groups in interiors.items():
        flagged = sum(int((fs._inside_votes(p) > 0.5).sum()) for fs, p in groups)
        total = sum(len(p) for _, p in groups)
        assert flagged >= 0.99 * total, f"{name}: only {flagged} of {total} interior points count as inside"
        fs, p = groups[0]
        deepest = p[np.argmax(fs.distance(p))]
        pose = np.eye(4)
        pose[:3, 3] = deepest
        with pytest.raises(PoseError) as err:
            fs.check_pose(pose)
        assert err.value.reason == "inside_geometry", f"{name} at {deepest}: {err.value}"


def test_inside_a_bed_at_ten_centimetres(interiors):
    fs, p = interiors["bed"][0]
    d = fs.distance(p)
    deep = p[d >= 0.08]
    assert len(deep) > 0
    assert (fs._inside_votes(deep) > 0.5).all()
    assert not fs.is_free(deep, clearance=0.0).any()


def test_free_positions_are_not_inside():
    scene = generate_apartment(seed=0)
    fs = FreeSpace(scene, threads=1)
    p = fs.sample_positions(200, np.random.default_rng(1), height=(0.3, 1.8), clearance=0.1)
    v = scene.vertices.astype(np.float64)
    furniture = np.isin(scene.face_class, [scene.class_id(c) for c in ("bed", "sofa", "cabinet", "wardrobe")])
    assert (np.abs(winding_number(v, scene.faces[furniture], p)) < 0.1).all()
    assert (fs._inside_votes(p) <= 0.5).all()
