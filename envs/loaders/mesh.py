"""Any glb / gltf / obj / ply mesh as a Scene, through trimesh's scene graph.

Why scene-graph nodes: modelling tools export one node per object ("Chair.001", "Table"), so nodes are
the only instance structure a generic mesh has. Each node that holds triangles (its transform applied)
becomes one instance; its class comes from ``class_map`` (regex -> class name, case-insensitive: the node name is
tried against every pattern in order, then the geometry name, then the material name; first match
wins; a part mapped to "unlabelled" stays an instance without class) or else from the cleaned node name ("Chair.001" -> "chair",
"dining_table_2" -> "dining table"). Names trimesh makes up (the file name of a single-mesh PLY,
"geometry_0") carry no label: such parts get instance 0, and a file without any label renders with
semseg 0 and a warning naming it. Instances are numbered 1..N in natural order of node names, so the
numbering does not depend on trimesh's internal graph order.

Colour: vertex colours or face colours when the file has them, else the material's base colour
(glTF ``baseColorFactor`` / OBJ ``Kd``, taken as stored, without linear -> sRGB conversion), else
grey 200. Textures (glTF baseColorTexture / OBJ map_Kd) are downscaled to <= ``MAX_TEXTURE`` px and
shelf-packed into ONE atlas whose top-left block is white (untextured faces use UV (0, 0)); the vertex
colour then multiplies the texture, as in glTF. Repeating UVs are wrapped per face (each face is
shifted by the whole number of repeats of its smallest UV) and then clamped to [0, 1], so a face that
spans several repeats shows a stretched edge rather than a tiling.

Up axis and units are normalised by ``tst.envs.units`` (glTF defaults to y-up, other formats to z-up,
with the extent heuristic documented there); the decision is logged and written into ``Scene.source``.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import trimesh

from tst.envs import units as unitmod
from tst.envs.scene import UNLABELLED, Scene
from tst.envs.vocabulary import to_canonical

log = logging.getLogger(__name__)

FORMATS = (".glb", ".gltf", ".obj", ".ply")
MAX_TEXTURE = 512  # px, longest side of a texture in the atlas
GUTTER = 2  # px between packed textures, against bleeding at their borders
WHITE = 4  # px, side of the white block at the atlas origin
DEFAULT_GREY = 200
_GENERIC = re.compile(r"^(geometry|mesh|node|object)?[_.\- ]?\d*$", re.IGNORECASE)


def clean_name(name: str) -> str:
    """'Chair.001' -> 'chair', 'dining_table_2' -> 'dining table': drop numeric suffixes, separators to spaces."""
    base = re.sub(r"([._\- ]*\d+)+$", "", name.strip())
    base = re.sub(r"[._\-\s]+", " ", base).strip().lower()
    return base or name.strip().lower()


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _compile(class_map: dict[str, str], path: Path) -> list[tuple[re.Pattern, str]]:
    out = []
    for pattern, cls in class_map.items():
        try:
            out.append((re.compile(pattern, re.IGNORECASE), str(cls)))
        except re.error as e:
            raise ValueError(f"{path}: class_map pattern {pattern!r} is not a valid regex ({e})") from e
    return out


def _classify(names: list[str], rules: list[tuple[re.Pattern, str]], generic: set[str]) -> str | None:
    """Class name of a part from its [node, geometry, material] names, or None when it has no label.

    Names are tried in that order, and for each name the patterns in order: the node name decides
    whenever any pattern matches it (a node "Cube.001" may hold a geometry called "Cube.002").
    """
    for n in names:
        for rx, cls in rules:
            if n and rx.search(n):
                return cls
    for n in names[:2]:  # node name, then geometry name; material names are too generic ("Material")
        if n and n not in generic and not _GENERIC.match(n):
            return clean_name(n)
    return None


class _AtlasBuilder:
    """Collects textures, then shelf-packs them (tallest first) into one atlas with a white corner."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []  # [h, w, 3] uint8 each
        self._ids: dict[int, int] = {}

    def add(self, image) -> int:
        """Index of a PIL image in the atlas (the same image object is stored once)."""
        key = id(image)
        if key not in self._ids:
            img = image.convert("RGB")
            if max(img.size) > MAX_TEXTURE:
                s = MAX_TEXTURE / max(img.size)
                img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))))
            self._ids[key] = len(self.images)
            self.images.append(np.asarray(img, dtype=np.uint8))
        return self._ids[key]

    def pack(self) -> tuple[np.ndarray, np.ndarray]:
        """(atlas [H, W, 3] uint8, rects [N, 4] int x0, y0, w, h per added image)."""
        sizes = [(WHITE, WHITE)] + [(im.shape[1], im.shape[0]) for im in self.images]
        area = sum((w + GUTTER) * (h + GUTTER) for w, h in sizes)
        width = max(max(w for w, _ in sizes) + GUTTER, int(np.ceil(np.sqrt(area))))
        order = [0] + sorted(range(1, len(sizes)), key=lambda i: -sizes[i][1])
        rects = np.zeros((len(sizes), 4), np.int64)
        x = y = shelf = 0
        for i in order:
            w, h = sizes[i]
            if x + w > width:
                x, y, shelf = 0, y + shelf + GUTTER, 0
            rects[i] = (x, y, w, h)
            x, shelf = x + w + GUTTER, max(shelf, h)
        atlas = np.zeros((y + shelf, width, 3), np.uint8)
        atlas[:WHITE, :WHITE] = 255
        for i, im in enumerate(self.images, start=1):
            x0, y0, w, h = rects[i]
            atlas[y0:y0 + h, x0:x0 + w] = im
        return atlas, rects[1:]


def _material_color_and_image(visual) -> tuple[np.ndarray, object | None]:
    """(base colour [3] uint8, PIL image or None) of a trimesh TextureVisuals material."""
    mat = getattr(visual, "material", None)
    color = np.full(3, DEFAULT_GREY, np.uint8)
    if mat is None:
        return color, None
    factor = getattr(mat, "baseColorFactor", None)
    if factor is None:
        factor = getattr(mat, "diffuse", None)
    if factor is not None:
        color = np.asarray(factor, dtype=np.uint8)[:3]
    image = getattr(mat, "baseColorTexture", None)
    if image is None:
        image = getattr(mat, "image", None)
    return color, image


def _placeholder(vis) -> bool:
    """Whether a TextureVisuals is trimesh's stand-in for a file with UVs but no texture or material:
    ``empty_material()`` (a tiny one-colour image with the default grey 102 diffuse), which rendered as is
    makes an untextured mesh ~16% bright."""
    mat = getattr(vis, "material", None)
    if mat is None:
        return True
    image = getattr(mat, "image", None)
    if getattr(mat, "baseColorTexture", None) is not None or image is None:
        return False
    arr = np.asarray(image)
    tiny = arr.shape[0] * arr.shape[1] <= 4 and (arr.reshape(-1, arr.shape[-1] if arr.ndim == 3 else 1)
                                                   == arr.reshape(-1, arr.shape[-1] if arr.ndim == 3 else 1)[0]).all()
    return bool(tiny and np.array_equal(np.asarray(getattr(mat, "diffuse", [102, 102, 102, 255]))[:3], [102, 102, 102]))


def _appearance(geom) -> str:
    """What a part's colour comes from, for the log."""
    vis = geom.visual
    kind = getattr(vis, "kind", None)
    if kind in ("face", "vertex"):
        return f"{kind} colours"
    if isinstance(vis, trimesh.visual.TextureVisuals) and not _placeholder(vis):
        return "texture" if _material_color_and_image(vis)[1] is not None else "material colour"
    return f"neutral grey {DEFAULT_GREY}"


def _part(geom: trimesh.Trimesh, transform: np.ndarray, atlas: _AtlasBuilder):
    """World vertices [V, 3] f64, faces [F, 3], colours [V, 3] u8, (texture index, corner uv [F, 3, 2]) | None."""
    v = trimesh.transform_points(np.asarray(geom.vertices, np.float64), transform)
    f = np.asarray(geom.faces, np.int64)
    vis, tex = geom.visual, None
    kind = getattr(vis, "kind", None)
    if kind == "face":  # unshare vertices so that per-face colour becomes per-vertex
        v, colors = v[f].reshape(-1, 3), np.repeat(np.asarray(vis.face_colors)[:, :3], 3, axis=0)
        f = np.arange(len(v)).reshape(-1, 3)
    elif kind == "vertex":
        colors = np.asarray(vis.vertex_colors)[:, :3]
    elif isinstance(vis, trimesh.visual.TextureVisuals) and not _placeholder(vis):
        base, image = _material_color_and_image(vis)
        colors = np.repeat(base[None], len(v), axis=0)
        if image is not None and vis.uv is not None and len(vis.uv) == len(geom.vertices):
            tex = (atlas.add(image), np.asarray(vis.uv, np.float64)[f])  # [F, 3, 2] (u, v up)
    else:  # no colour at all, or UVs without a texture file: trimesh's stand-in material is not real
        colors = np.full((len(v), 3), DEFAULT_GREY)
    if np.linalg.det(transform[:3, :3]) < 0:  # a mirroring node flips the winding: restore it
        f = f[:, ::-1]
        tex = None if tex is None else (tex[0], tex[1][:, ::-1])
    return v, f, colors.astype(np.uint8), tex


def _atlas_uv(uv: np.ndarray, rect: np.ndarray, atlas_hw: tuple[int, int]) -> np.ndarray:
    """[F, 3, 2] texture UVs (v up, may repeat) -> atlas UVs (v down) inside ``rect``, wrapped per face."""
    uv = uv - np.floor(uv.min(axis=1, keepdims=True))  # per-face wrap into the first repeat
    uv = np.clip(uv, 0.0, 1.0)
    x0, y0, w, h = rect
    H, W = atlas_hw
    u = (x0 + 0.5 + uv[..., 0] * (w - 1)) / W  # texel centres of the image's first and last column
    v = (y0 + 0.5 + (1.0 - uv[..., 1]) * (h - 1)) / H
    return np.stack([u, v], axis=-1).astype(np.float32)


def _read(path: Path) -> trimesh.Scene:
    kwargs = {"split_objects": True, "group_material": False} if path.suffix.lower() == ".obj" else {}
    try:
        return trimesh.load(str(path), force="scene", process=False, **kwargs)
    except Exception as e:
        raise ValueError(f"{path}: could not be read as a {path.suffix} mesh ({type(e).__name__}: {e})") from e


def load_mesh(path: str | Path, up_axis: str = "auto", units: str = "auto",
              class_map: dict[str, str] | None = None) -> Scene:
    """Load a glb/gltf/obj/ply file into a z-up metre Scene (see the module docstring for the rules)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file {path} does not exist; scene=mesh expects scene.path to be one "
                                f"file with extension {list(FORMATS)}")
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: unsupported mesh format {path.suffix!r}; expected one of {list(FORMATS)}")
    rules = _compile(dict(class_map or {}), path)
    tscene = _read(path)
    generic = {path.name, path.stem}
    atlas = _AtlasBuilder()
    parts = []  # (node, class name | None, vertices, faces, colours, tex)
    looks: set[str] = set()
    for node in sorted(tscene.graph.nodes_geometry, key=_natural_key):
        transform, geom_name = tscene.graph[node]
        geom = tscene.geometry[geom_name]
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue  # point clouds, paths, empty meshes: nothing to ray-cast
        mat = getattr(getattr(geom.visual, "material", None), "name", None)
        cls = _classify([node, geom_name, mat or ""], rules, generic)
        parts.append((node, cls, *_part(geom, np.asarray(transform, np.float64), atlas)))
        looks.add(_appearance(geom))
    if not parts:
        raise ValueError(f"{path}: empty scene: the file holds no triangle meshes")

    class_names = [UNLABELLED] + sorted({p[1] for p in parts if p[1] not in (None, UNLABELLED)})
    vertices, faces, colors, face_instance, instance_class, names = [], [], [], [], [0], {}
    offset = 0
    for node, cls, v, f, c, _ in parts:
        inst = 0
        if cls is not None:
            inst = len(instance_class)
            instance_class.append(class_names.index(cls) if cls != UNLABELLED else 0)
            names[inst] = node
        vertices.append(v)
        faces.append(f + offset)
        colors.append(c)
        face_instance.append(np.full(len(f), inst, np.int32))
        offset += len(v)
    v_all, decision = unitmod.normalise(np.concatenate(vertices), up_axis, units,
                                        default_up="y" if path.suffix.lower() in (".glb", ".gltf") else "z",
                                        name=str(path))
    faces_all = np.concatenate(faces).astype(np.int32)  # [F, 3]

    texture = corner_uv = None
    if atlas.images:
        texture, rects = atlas.pack()
        corner_uv = np.zeros((len(faces_all), 3, 2), np.float32)  # untextured -> white texel (0, 0)
        start = 0
        for *_, f, _, tex in parts:
            if tex is not None:
                corner_uv[start:start + len(f)] = _atlas_uv(tex[1], rects[tex[0]], texture.shape[:2])
            start += len(f)
    scene = Scene(
        vertices=v_all, faces=faces_all, face_instance=np.concatenate(face_instance),
        instance_class=np.array(instance_class, np.int32), class_names=class_names,
        vertex_colors=np.concatenate(colors), corner_uv=corner_uv, texture=texture, scene_id=path.stem,
        source=(f"mesh {path} ({decision['up_axis']}-up: {decision['up_reason']}; "
                f"units {decision['units']}: {decision['unit_reason']})"),
        instance_names=names,
    ).validate()
    log.info("%s: appearance from %s", path, ", ".join(sorted(looks)))
    scene = to_canonical(scene, extra=None, where=str(path))  # class_map targets / node names, canonical spelling
    if not scene.has_labels():
        warnings.warn(f"{path}: the mesh has no labelled parts, so it renders with semseg 0 everywhere; "
                      f"name its nodes or pass class_map (regex -> class name)", stacklevel=2)
    return scene
