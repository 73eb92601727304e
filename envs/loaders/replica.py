"""Replica scenes (facebookresearch/Replica-Dataset) as habitat ships them, read and written.

On-disk layout of one scene folder::

    <scene>/mesh.ply                     binary PLY, quad faces, float x y z nx ny nz, uchar red green blue
    <scene>/habitat/mesh_semantic.ply    PLY, faces (quads in the release) with an integer object_id
                                         (uint16 in some releases, int32 in others: read from the header)
    <scene>/habitat/info_semantic.json   {"classes": [{id, name}], "objects": [{id, class_id,
                                         class_name, oriented_bbox}], "id_to_label": [class id per object id]}

Geometry, labels and colours come from ``mesh_semantic.ply`` (its per-face object ids are the labels;
``mesh.ply`` is checked, and only used for colour when the semantic mesh has none). Replica's
coordinates are already z-up metres; habitat rotates them to its own y-up world at load time, and that
rotation is deliberately NOT applied here.

Labels: object id <= 0 is void (habitat's id_to_label marks it negative) -> instance 0; every other
object id is kept as the instance id. The class of an object is ``id_to_label[id]`` (falling back to
the ``objects`` entry); class ids <= 0 or absent from ``classes`` map to "unlabelled". The vocabulary
is compact: the listed classes with id > 0, in id order, become 1..K.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tst.envs.loaders import ply
from tst.envs.scene import UNLABELLED, Scene
from tst.envs.vocabulary import to_canonical

MESH = "mesh.ply"
SEMANTIC_MESH = "habitat/mesh_semantic.ply"
INFO = "habitat/info_semantic.json"
LAYOUT = (f"a Replica scene folder holds {MESH} (binary PLY: x y z nx ny nz red green blue, quad faces), "
          f"{SEMANTIC_MESH} (faces with object_id) and {INFO} (classes, objects, id_to_label)")
DEFAULT_GREY = 200  # written for scenes without vertex colours


def _require(root: Path, rel: str) -> Path:
    p = root / rel
    if not p.is_file():
        raise FileNotFoundError(f"Replica scene {root}: missing {p}. Expected layout: {LAYOUT}")
    return p


def _read_info(path: Path) -> tuple[list[str], dict[int, int]]:
    """(class_names with [0] = unlabelled, object id -> compact class id) from info_semantic.json."""
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected {{'classes', 'objects', 'id_to_label'}}") from e
    if not isinstance(info, dict) or not isinstance(info.get("classes"), list):
        raise ValueError(f"{path}: field 'classes' (a list of {{id, name}}) is missing; found keys "
                         f"{sorted(info) if isinstance(info, dict) else type(info).__name__}")
    compact: dict[int, int] = {}
    names = [UNLABELLED]
    try:
        for c in sorted(info["classes"], key=lambda c: int(c["id"])):
            cid, name = int(c["id"]), str(c["name"])
            if cid <= 0 or name == UNLABELLED:
                continue
            if name not in names:
                names.append(name)
            compact[cid] = names.index(name)
        object_class: dict[int, int] = {}
        for o in info.get("objects", []):
            object_class[int(o["id"])] = compact.get(int(o.get("class_id", -1)), 0)
        for oid, cid in enumerate(info.get("id_to_label", [])):  # authoritative where present
            object_class[oid] = compact.get(int(cid), 0)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: malformed entry ({type(e).__name__}: {e}); expected classes[{{id, name}}], "
                         f"objects[{{id, class_id, class_name, oriented_bbox}}], id_to_label[int]") from e
    return names, object_class


def load_replica(path: str | Path) -> Scene:
    """Load one Replica scene folder (see the module docstring) into a z-up metre Scene."""
    root = Path(path)
    if root.is_file() and root.name == MESH:
        root = root.parent
    if not root.is_dir():
        raise FileNotFoundError(f"Replica scene folder {root} does not exist. Expected layout: {LAYOUT}")
    mesh_path, sem_path, info_path = (_require(root, r) for r in (MESH, SEMANTIC_MESH, INFO))
    class_names, object_class = _read_info(info_path)

    ply.check_header(mesh_path, {"vertex": ("x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"),
                                 "face": ("vertex_indices",)})
    sem = ply.read_ply(sem_path, {"vertex": ("x", "y", "z"), "face": ("vertex_indices", "object_id")})
    object_id = ply.face_property(sem, "object_id")  # [P] uint16 or int32 as on disk
    if not np.issubdtype(object_id.dtype, np.integer):
        raise ValueError(f"{sem_path}: face property 'object_id' must be an integer type (uint16 or int32), "
                         f"found {object_id.dtype}")
    vertices = ply.vertex_positions(sem)  # [V, 3]
    faces, src = ply.triangulate(ply.face_polygons(sem))  # [F, 3], [F]
    face_instance = np.maximum(object_id.astype(np.int64)[src], 0).astype(np.int32)  # [F] void -> 0

    n_inst = int(face_instance.max()) + 1 if len(face_instance) else 1
    instance_class = np.array([object_class.get(i, 0) if i > 0 else 0 for i in range(n_inst)], np.int32)
    colors = ply.vertex_colors(sem)
    if colors is None:
        mesh = ply.read_ply(mesh_path, {"vertex": ("x", "y", "z", "red", "green", "blue")})
        if len(mesh["vertex"].data) == len(vertices):
            colors = ply.vertex_colors(mesh)
    scene = Scene(
        vertices=vertices, faces=faces, face_instance=face_instance, instance_class=instance_class,
        class_names=class_names, vertex_colors=colors, scene_id=root.name,
        source=f"replica {root}",
        instance_names={i: f"{class_names[c]}_{i}" for i, c in enumerate(instance_class) if i > 0 and c > 0},
    ).validate()
    # Replica's own names (indoor-plant, wall-plug) in canonical spelling; none is dropped
    return to_canonical(scene, extra=None, where=str(root / INFO))


def _baked_colors(scene: Scene) -> np.ndarray:
    """[V, 3] uint8 vertex colours with the texture (if any) averaged in: PLY vertex colour is all
    Replica's semantic mesh can carry, so a textured scene is written with its mean texture colour."""
    base = (scene.vertex_colors if scene.vertex_colors is not None
            else np.full((len(scene.vertices), 3), DEFAULT_GREY, np.uint8)).astype(np.float64)
    if scene.texture is None:
        return base.astype(np.uint8)
    h, w = scene.texture.shape[:2]
    uv = scene.corner_uv.reshape(-1, 2)  # [3F, 2]
    px = np.clip((uv[:, 0] * w).astype(np.int64), 0, w - 1)
    py = np.clip((uv[:, 1] * h).astype(np.int64), 0, h - 1)
    texel = scene.texture[py, px].astype(np.float64)  # [3F, 3]
    idx = scene.faces.reshape(-1)
    acc = np.stack([np.bincount(idx, weights=texel[:, j], minlength=len(base)) for j in range(3)], axis=1)
    cnt = np.bincount(idx, minlength=len(base))[:, None]
    mean = np.where(cnt > 0, acc / np.maximum(cnt, 1), 255.0)
    return np.round(base * mean / 255.0).astype(np.uint8)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[V, 3] float32 area-weighted unit vertex normals (mesh.ply carries them)."""
    tri = vertices[faces].astype(np.float64)  # [F, 3, 3]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # [F, 3], length = 2 * area
    idx, w = faces.reshape(-1), np.repeat(fn, 3, axis=0)  # [3F], [3F, 3]: each corner gets its face's normal
    vn = np.stack([np.bincount(idx, weights=w[:, j], minlength=len(vertices)) for j in range(3)], axis=1)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return (vn / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def write_replica(scene: Scene, path: str | Path, quads: bool = False, object_id_type: str = "int32") -> None:
    """Write ``scene`` as a Replica folder that ``load_replica`` (and habitat) can read.

    ``quads=True`` writes Replica's real quad faces; it needs the triangles to come in (a, b, c),
    (a, c, d) pairs of one instance (scenes built from quads, such as the box-room fixture).
    ``object_id_type`` is "int32" or "uint16", the two types found in the releases. Instance ids are
    written as object ids, instance 0 as the void object 0. Textures are averaged into vertex colours.
    """
    scene.validate()
    types = {"int32": np.int32, "uint16": np.uint16}
    if object_id_type not in types:
        raise ValueError(f"object_id_type must be one of {sorted(types)}, got {object_id_type!r}")
    if object_id_type == "uint16" and scene.face_instance.max() > np.iinfo(np.uint16).max:
        raise ValueError(f"scene {scene.scene_id!r}: instance ids exceed uint16; use object_id_type='int32'")
    root = Path(path)
    polygons, poly_instance = scene.faces, scene.face_instance
    if quads:
        paired = ply.pair_quads(scene.faces)
        if paired is None or (scene.face_instance[0::2] != scene.face_instance[1::2]).any():
            raise ValueError(f"scene {scene.scene_id!r}: triangles do not come in (a, b, c), (a, c, d) pairs "
                             f"of one instance, so they cannot be written as quads; use quads=False")
        polygons, poly_instance = paired, scene.face_instance[0::2]
    v = scene.vertices.astype(np.float32)
    rgb = _baked_colors(scene)
    xyz = {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2]}
    color = {"red": rgb[:, 0], "green": rgb[:, 1], "blue": rgb[:, 2]}
    n = _vertex_normals(v, scene.faces)
    ply.write_ply(root / MESH, {**xyz, "nx": n[:, 0], "ny": n[:, 1], "nz": n[:, 2], **color}, polygons)
    ply.write_ply(root / SEMANTIC_MESH, {**xyz, **color}, polygons,
                  {"object_id": poly_instance.astype(types[object_id_type])})

    classes = [{"id": c, "name": name} for c, name in enumerate(scene.class_names) if c > 0]
    objects = []
    for i in range(1, len(scene.instance_class)):
        used = np.unique(scene.faces[scene.face_instance == i])
        if len(used) == 0:
            continue
        lo, hi = v[used].min(0), v[used].max(0)
        c = int(scene.instance_class[i])
        objects.append({"id": i, "class_id": c, "class_name": scene.class_names[c],
                        "oriented_bbox": {"abb": {"center": ((lo + hi) / 2).tolist(), "sizes": (hi - lo).tolist()},
                                          "orientation": {"rotation": [0.0, 0.0, 0.0, 1.0],
                                                          "translation": [0.0, 0.0, 0.0]}}})
    id_to_label = [-1] + [int(c) for c in scene.instance_class[1:]]
    info = {"classes": classes, "objects": objects, "id_to_label": id_to_label}
    (root / INFO).write_text(json.dumps(info, indent=1))
