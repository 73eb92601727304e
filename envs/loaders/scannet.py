"""ScanNet v2 scenes (the layout most users already have), read and written.

One scene folder ``<scene>/`` (e.g. ``scene0000_00``) holds::

    <scene>_vh_clean_2.ply                 PLY: x y z red green blue (alpha), triangles; z-up metres
    <scene>_vh_clean_2.0.010000.segs.json  {"segIndices": [segment id per VERTEX]}
    <scene>.aggregation.json               {"segGroups": [{id, objectId, label, segments}]}

Labels go vertex -> segment -> group -> face exactly as for ScanNet++ (``scannetpp.segment_labels``).
Raw categories are mapped onto the canonical vocabulary (``tst.envs.vocabulary.to_canonical``); with
``label_tsv`` (the ``scannetv2-labels.combined.tsv`` ScanNet ships) a raw category is first replaced
by its value in ``label_column`` (e.g. ``nyu40class``, ``category``). Without the two annotation files
the scene loads unlabelled (fine for split=pretrain; labelled splits refuse it naming the file).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from tst.envs.loaders import ply
from tst.envs.loaders.scannetpp import (
    SCANNETPP_CLASSES,
    read_annotation,
    read_scan_mesh,
    segment_labels,
    unlabelled_scan,
)
from tst.envs.scene import Scene
from tst.envs.vocabulary import to_canonical

log = logging.getLogger(__name__)
MESH, SEGS, AGG = "{}_vh_clean_2.ply", "{}_vh_clean_2.0.010000.segs.json", "{}.aggregation.json"
LAYOUT = (f"a ScanNet v2 scene folder <scene>/ holds {MESH.format('<scene>')} (x y z red green blue), "
          f"{SEGS.format('<scene>')} (segIndices per vertex) and {AGG.format('<scene>')} (segGroups)")


def read_label_tsv(path: str | Path, column: str) -> dict[str, str]:
    """{raw_category (lower case): value of ``column``} from ScanNet's label table."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scene.label_tsv={path} does not exist; pass ScanNet's "
                                f"scannetv2-labels.combined.tsv (columns raw_category, category, nyu40class, ...)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    cols = list(rows[0]) if rows else []
    if "raw_category" not in cols or column not in cols:
        raise ValueError(f"{path}: needs columns 'raw_category' and scene.label_column={column!r}; found {cols}")
    return {r["raw_category"].strip().lower(): r[column].strip() for r in rows if r[column].strip()}


def load_scannet(path: str | Path, label_map: dict[str, str] | None = None, label_tsv: str | None = None,
                 label_column: str = "nyu40class") -> Scene:
    """Load one ScanNet v2 scene folder (see the module docstring) into a z-up metre Scene."""
    root = Path(path)
    if root.is_file():
        root = root.parent
    if not root.is_dir():
        raise FileNotFoundError(f"ScanNet scene folder {root} does not exist. Expected layout: {LAYOUT}")
    name = root.name
    mesh_path = root / MESH.format(name)
    if not mesh_path.is_file():
        found = sorted(root.glob("*_vh_clean_2.ply"))
        if len(found) != 1:
            raise FileNotFoundError(f"ScanNet scene {root}: missing {mesh_path}. Expected layout: {LAYOUT}")
        mesh_path, name = found[0], found[0].name[: -len("_vh_clean_2.ply")]
    vertices, faces, colors = read_scan_mesh(mesh_path)  # [V, 3], [F, 3], [V, 3] or None
    segs, agg = root / SEGS.format(name), root / AGG.format(name)
    missing = [p for p in (segs, agg) if not p.is_file()]
    source = f"scannet {root}"
    if missing:
        face_instance, instance_class, class_names, names = unlabelled_scan("ScanNet", root, faces, missing)
        source += f" (unlabelled: missing {', '.join(str(p) for p in missing)})"
    else:
        seg_indices, groups = read_annotation(segs, agg, len(vertices), mesh_path.name)
        tsv = read_label_tsv(label_tsv, label_column) if label_tsv else {}
        raw = [tsv.get(str(g["label"]).strip().lower(), str(g["label"])) for g in groups]
        face_instance, instance_class, class_names, names = segment_labels(faces, seg_indices, groups, raw)
    scene = Scene(vertices=vertices, faces=faces, face_instance=face_instance, instance_class=instance_class,
                  class_names=class_names, vertex_colors=colors, scene_id=name, source=source,
                  instance_names=names).validate()
    return to_canonical(scene, label_map, extra=None if label_tsv else SCANNETPP_CLASSES, where=str(root))


def write_scannet(scene: Scene, path: str | Path) -> Path:
    """Write ``scene`` as a ScanNet v2 scene folder ``path`` that ``load_scannet`` reads back (vertex
    colours or grey 200, one segment per instance; exact when instances share no vertex)."""
    root = Path(path)
    name = root.name
    scene.validate()
    v = scene.vertices.astype(np.float32)
    rgb = scene.vertex_colors if scene.vertex_colors is not None else np.full((len(v), 3), 200, np.uint8)
    ply.write_ply(root / MESH.format(name), {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2], "red": rgb[:, 0],
                                            "green": rgb[:, 1], "blue": rgb[:, 2],
                                            "alpha": np.full(len(v), 255, np.uint8)}, scene.faces)
    vertex_instance = np.zeros(len(v), np.int64)
    used, first = np.unique(scene.faces.reshape(-1), return_index=True)
    vertex_instance[used] = np.repeat(scene.face_instance, 3)[first]
    seg = np.where(vertex_instance > 0, 100 + vertex_instance, 0)
    (root / SEGS.format(name)).write_text(json.dumps({"sceneId": name, "segIndices": seg.tolist()}))
    groups = [{"id": i - 1, "objectId": i - 1, "segments": [100 + i], "label": scene.class_names[int(c)]}
              for i, c in enumerate(scene.instance_class) if i > 0]
    (root / AGG.format(name)).write_text(json.dumps({"sceneId": name, "segGroups": groups}))
    return root
