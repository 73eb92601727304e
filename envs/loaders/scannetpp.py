"""ScanNet++ scenes (laser-scan meshes with over-segment annotations), read and written.

On-disk layout of one scene folder (as the ScanNet++ release ships ``data/<scene_id>/``)::

    <scene>/scans/mesh_aligned_0.05.ply   PLY triangles, float x y z, uchar red green blue
    <scene>/scans/segments.json           {"segIndices": [segment id per VERTEX], ...}
    <scene>/scans/segments_anno.json      {"segGroups": [{id, objectId, label, segments: [segment ids]}]}

Labels live on vertices (through segments), the Scene puts them on faces: a face takes the instance
that at least two of its three vertices share; when all three differ it takes its first vertex's
(deterministic, and such faces only occur on segment borders). A segment listed by several groups
belongs to the first. Instances are numbered 1..N in ascending ``objectId``. Raw labels go through
the optional ``label_map`` (raw label -> class name; it wins) or the synonyms onto the canonical
vocabulary (``tst.envs.vocabulary.to_canonical``), plus ``SCANNETPP_CLASSES`` (a top-100 style list of
the benchmark's frequent classes); other labels become "unlabelled" (class 0) and are reported with
their face counts in ONE warning. ScanNet++ meshes are z-up metres.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tst.envs.loaders import ply
from tst.envs.scene import UNLABELLED, Scene
from tst.envs.vocabulary import to_canonical

log = logging.getLogger(__name__)

MESH = "scans/mesh_aligned_0.05.ply"
SEGMENTS = "scans/segments.json"
ANNOTATIONS = "scans/segments_anno.json"
LAYOUT = (f"a ScanNet++ scene folder holds {MESH} (PLY: x y z red green blue, triangles), "
          f"{SEGMENTS} (segIndices per vertex) and {ANNOTATIONS} (segGroups with id, objectId, label, segments)")

# The semantic classes frequent in ScanNet++ (top-100 style, lower-cased); class id = index + 1.
SCANNETPP_CLASSES = (
    "wall", "floor", "ceiling", "table", "door", "ceiling lamp", "cabinet", "blinds", "curtain", "chair",
    "storage cabinet", "office chair", "bookshelf", "whiteboard", "window", "box", "window frame", "monitor",
    "shelf", "doorframe", "pipe", "heater", "kitchen cabinet", "sofa", "windowsill", "bed", "shower wall",
    "trash can", "book", "plant", "blanket", "tv", "computer tower", "kitchen counter", "refrigerator",
    "jacket", "electrical duct", "sink", "bag", "picture", "pillow", "towel", "suitcase", "backpack", "crate",
    "keyboard", "rack", "toilet", "paper", "printer", "poster", "painting", "microwave", "board", "shoes",
    "socket", "bottle", "bucket", "cushion", "basket", "shoe rack", "telephone", "file folder", "cloth",
    "blind rail", "laptop", "plant pot", "exhaust fan", "cup", "coat hanger", "light switch", "speaker",
    "table lamp", "air vent", "clothes hanger", "kettle", "smoke detector", "container", "power strip",
    "slippers", "paper bag", "mouse", "cutting board", "toilet paper", "paper towel", "pot", "clock", "pan",
    "tap", "jar", "soap dispenser", "binder", "bowl", "tissue box", "whiteboard eraser", "toilet brush",
    "spray bottle", "headphones", "stapler", "marker",
)


def _scans_root(path: Path) -> Path:
    """Accept the scene folder (holding scans/) or the scans/ folder itself."""
    if not (path / "scans").is_dir() and (path / Path(MESH).name).is_file():
        return path.parent
    return path


def _read_json(path: Path, field: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"scene annotation {path} is missing")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected an object with {field!r}") from e
    if not isinstance(data, dict) or not isinstance(data.get(field), list):
        raise ValueError(f"{path}: field {field!r} (a list) is missing; found keys "
                         f"{sorted(data) if isinstance(data, dict) else type(data).__name__}")
    return data


def _majority(corner: np.ndarray) -> np.ndarray:
    """[F, 3] per-corner ids -> [F] the id at least two corners share, else the first corner's."""
    a, b, c = corner[:, 0], corner[:, 1], corner[:, 2]
    return np.where((b == c) & (a != b), b, a)


def read_annotation(segments: Path, groups: Path, num_vertices: int, mesh_name: str) -> tuple[np.ndarray, list]:
    """([V] segment id per vertex, segGroups sorted by objectId), checked against the mesh (ScanNet and
    ScanNet++ share this format)."""
    seg_indices = np.asarray(_read_json(segments, "segIndices")["segIndices"], dtype=np.int64)  # [V]
    if seg_indices.shape != (num_vertices,):
        raise ValueError(f"{segments}: field 'segIndices' must hold one segment id per vertex of "
                         f"{mesh_name}: expected {num_vertices}, found {seg_indices.shape[0]}")
    anno = _read_json(groups, "segGroups")
    try:
        ordered = sorted(anno["segGroups"], key=lambda g: int(g["objectId"]))
        for g in ordered:
            str(g["label"]), [int(x) for x in g["segments"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{groups}: malformed segGroups entry ({type(e).__name__}: {e}); expected "
                         f"{{id, objectId, label, segments: [segment ids]}}") from e
    return seg_indices, ordered


def segment_labels(faces: np.ndarray, seg_indices: np.ndarray, groups: list, raw: list[str]
                   ) -> tuple[np.ndarray, np.ndarray, list[str], dict[int, str]]:
    """(face_instance [F], instance_class [I+1], raw class names, instance names) from per-vertex
    segments: instances 1..N in group order, class names the raw labels ``raw`` (one per group)."""
    class_names = [UNLABELLED]
    seg_to_inst: dict[int, int] = {}
    instance_class, instance_names = [0], {}
    for inst, (g, label) in enumerate(zip(groups, raw), start=1):
        label = str(label).strip().lower()
        if label not in class_names:
            class_names.append(label)
        instance_class.append(class_names.index(label))
        instance_names[inst] = str(g["label"]).strip().lower()
        for s in g["segments"]:
            seg_to_inst.setdefault(int(s), inst)
    keys = np.array(sorted(seg_to_inst), dtype=np.int64)
    vals = np.array([seg_to_inst[k] for k in keys.tolist()], dtype=np.int32)
    pos = np.clip(np.searchsorted(keys, seg_indices), 0, max(len(keys) - 1, 0))
    hit = (keys[pos] == seg_indices) if len(keys) else np.zeros(len(seg_indices), bool)
    vertex_instance = np.where(hit, vals[pos] if len(vals) else 0, 0).astype(np.int32)  # [V]
    face_instance = _majority(vertex_instance[faces]) if len(faces) else np.zeros(0, np.int32)  # [F]
    return face_instance.astype(np.int32), np.array(instance_class, np.int32), class_names, instance_names


def read_scan_mesh(mesh_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(vertices [V, 3], triangles [F, 3], vertex colours or None) of a scan's PLY; logs the appearance used."""
    data = ply.read_ply(mesh_path, {"vertex": ("x", "y", "z"), "face": ("vertex_indices",)})
    faces, _ = ply.triangulate(ply.face_polygons(data))
    colors = ply.vertex_colors(data)
    log.info("%s: appearance from %s", mesh_path, "vertex colours" if colors is not None else "neutral grey 200")
    return ply.vertex_positions(data), faces, colors


def unlabelled_scan(kind: str, root: Path, faces: np.ndarray, missing: list[Path]) -> tuple:
    """Labels of a scan without its annotation files: every face unlabelled (fine for split=pretrain)."""
    log.warning("%s scene %s has no annotation (%s missing): loaded unlabelled, usable for split=pretrain only",
                kind, root, ", ".join(str(p) for p in missing))
    return np.zeros(len(faces), np.int32), np.zeros(1, np.int32), [UNLABELLED], {}


def load_scannetpp(path: str | Path, label_map: dict[str, str] | None = None) -> Scene:
    """Load one ScanNet++ scene folder (see the module docstring) into a z-up metre Scene.

    Without the annotation files the scene loads unlabelled (split=pretrain needs no labels); a
    labelled split then refuses it, naming the missing file (the Scene's ``source`` says which)."""
    root = _scans_root(Path(path))
    if not root.is_dir():
        raise FileNotFoundError(f"ScanNet++ scene folder {root} does not exist. Expected layout: {LAYOUT}")
    mesh_path = root / MESH
    if not mesh_path.is_file():
        raise FileNotFoundError(f"ScanNet++ scene {root}: missing {mesh_path}. Expected layout: {LAYOUT}")
    vertices, faces, colors = read_scan_mesh(mesh_path)  # [V, 3], [F, 3], [V, 3] or None
    missing = [root / p for p in (SEGMENTS, ANNOTATIONS) if not (root / p).is_file()]
    source = f"scannetpp {root}"
    if missing:
        face_instance, instance_class, class_names, names = unlabelled_scan("ScanNet++", root, faces, missing)
        source += f" (unlabelled: missing {', '.join(str(p) for p in missing)})"
    else:
        seg_indices, groups = read_annotation(root / SEGMENTS, root / ANNOTATIONS, len(vertices), mesh_path.name)
        face_instance, instance_class, class_names, names = segment_labels(
            faces, seg_indices, groups, [str(g["label"]) for g in groups])
    scene = Scene(vertices=vertices, faces=faces, face_instance=face_instance, instance_class=instance_class,
                  class_names=class_names, vertex_colors=colors, scene_id=root.name, source=source,
                  instance_names=names).validate()
    return to_canonical(scene, label_map, extra=SCANNETPP_CLASSES, where=str(root / ANNOTATIONS))


def write_scannetpp(scene: Scene, path: str | Path) -> None:
    """Write ``scene`` as a ScanNet++ scene folder that ``load_scannetpp`` reads back.

    Each instance becomes one segment group with one segment (segment id 100 + instance id, so that ids
    are not accidentally equal to instance ids); a vertex takes the instance of the first face using it.
    Exact for scenes whose instances do not share vertices (all scenes built from separate parts).
    """
    scene.validate()
    root = Path(path)
    v = scene.vertices.astype(np.float32)
    rgb = (scene.vertex_colors if scene.vertex_colors is not None
           else np.full((len(v), 3), 200, np.uint8))
    ply.write_ply(root / MESH, {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2],
                                "red": rgb[:, 0], "green": rgb[:, 1], "blue": rgb[:, 2]}, scene.faces)
    vertex_instance = np.zeros(len(v), np.int64)
    corner_inst = np.repeat(scene.face_instance, 3)  # [3F]
    idx = scene.faces.reshape(-1)
    used, first = np.unique(idx, return_index=True)  # first corner that uses each vertex
    vertex_instance[used] = corner_inst[first]
    seg_indices = np.where(vertex_instance > 0, 100 + vertex_instance, 0)
    (root / SEGMENTS).write_text(json.dumps({"sceneId": scene.scene_id, "segIndices": seg_indices.tolist()}))
    groups = [{"id": i - 1, "objectId": i - 1, "label": scene.class_names[int(c)], "segments": [100 + i]}
              for i, c in enumerate(scene.instance_class) if i > 0]
    (root / ANNOTATIONS).write_text(json.dumps({"sceneId": scene.scene_id, "segGroups": groups}, indent=1))
