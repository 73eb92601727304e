"""The one in-memory model of a space that every loader returns and every renderer consumes.

Conventions (all loaders normalise to them): z-up, metres, triangles only. Labels live on faces:
``face_instance[f]`` is the instance id of face ``f`` (0 = none) and ``instance_class[i]`` the class
id of instance ``i`` (``instance_class[0] == 0``), with ``class_names[c]`` its name
(``class_names[0] == "unlabelled"``). Colour is ``vertex_colors`` modulated by an optional texture
atlas sampled at per-corner UVs; untextured faces point their UVs at the atlas's white texel (0, 0)
so the renderer has a single colour path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

UNLABELLED = "unlabelled"


@dataclass
class Room:
    """A room footprint: used for camera sampling, captions ("a bedroom") and top-down maps."""

    name: str  # room type, e.g. "bedroom"
    polygon: np.ndarray  # [N, 2] float32 floor outline in x, y (metres, counter-clockwise)
    floor_z: float
    ceiling_z: float


@dataclass
class Scene:
    vertices: np.ndarray  # [V, 3] float32, z-up metres
    faces: np.ndarray  # [F, 3] int32 indices into vertices
    face_instance: np.ndarray  # [F] int32 instance id, 0 = none
    instance_class: np.ndarray  # [I + 1] int32 class id per instance id; index 0 -> 0
    class_names: list[str]  # class id -> name; [0] == "unlabelled"
    vertex_colors: np.ndarray | None = None  # [V, 3] uint8; None -> uniform light grey
    corner_uv: np.ndarray | None = None  # [F, 3, 2] float32 atlas UVs in [0, 1] (u right, v down)
    texture: np.ndarray | None = None  # [H, W, 3] uint8 atlas; texel (0, 0) is white
    scene_id: str = "scene"
    source: str = ""  # human-readable description of where it came from
    rooms: list[Room] = field(default_factory=list)  # empty when the source has no room info
    instance_names: dict[int, str] = field(default_factory=dict)  # optional: source's object names

    # ------------------------------------------------------------------ checks
    def validate(self) -> Scene:
        """Fail early, naming the field, on arrays that would corrupt rendering later."""
        v, f = self.vertices, self.faces
        if v.ndim != 2 or v.shape[1] != 3:
            raise ValueError(f"scene {self.scene_id!r}: vertices must be [V, 3], got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"scene {self.scene_id!r}: faces must be [F, 3] triangles, got {f.shape}")
        if len(f) == 0:
            raise ValueError(f"scene {self.scene_id!r} is empty: it has no faces ({self.source})")
        if f.min() < 0 or f.max() >= len(v):
            raise ValueError(f"scene {self.scene_id!r}: face indices out of range [0, {len(v)})")
        if not np.isfinite(v).all():
            raise ValueError(f"scene {self.scene_id!r}: vertices contain NaN or inf")
        if self.face_instance.shape != (len(f),):
            raise ValueError(f"scene {self.scene_id!r}: face_instance must be [F]={len(f)}, "
                             f"got {self.face_instance.shape}")
        if self.instance_class.ndim != 1 or len(self.instance_class) == 0:
            raise ValueError(f"scene {self.scene_id!r}: instance_class must be a 1-D array with index 0")
        if self.face_instance.min() < 0 or self.face_instance.max() >= len(self.instance_class):
            raise ValueError(f"scene {self.scene_id!r}: face_instance has ids without an instance_class entry")
        if self.instance_class.max() >= len(self.class_names) or self.instance_class.min() < 0:
            raise ValueError(f"scene {self.scene_id!r}: instance_class has class ids outside class_names")
        if not self.class_names or self.class_names[0] != UNLABELLED:
            raise ValueError(f"scene {self.scene_id!r}: class_names[0] must be {UNLABELLED!r}")
        if self.vertex_colors is not None and self.vertex_colors.shape != (len(v), 3):
            raise ValueError(f"scene {self.scene_id!r}: vertex_colors must be [V, 3], got {self.vertex_colors.shape}")
        if (self.corner_uv is None) != (self.texture is None):
            raise ValueError(f"scene {self.scene_id!r}: corner_uv and texture come together")
        if self.corner_uv is not None and self.corner_uv.shape != (len(f), 3, 2):
            raise ValueError(f"scene {self.scene_id!r}: corner_uv must be [F, 3, 2], got {self.corner_uv.shape}")
        return self

    # ------------------------------------------------------------------ derived
    @property
    def face_class(self) -> np.ndarray:
        """[F] class id per face."""
        return self.instance_class[self.face_instance]

    @property
    def bounds(self) -> np.ndarray:
        """[2, 3] axis-aligned min / max corner."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    @property
    def num_instances(self) -> int:
        return int(len(self.instance_class) - 1)

    def has_labels(self) -> bool:
        return bool((self.face_class > 0).any())

    def class_id(self, name: str) -> int:
        """Class id of a name, failing with the vocabulary when it is unknown."""
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(f"class {name!r} is not in scene {self.scene_id!r}; classes: {self.class_names}") from None

    def summary(self) -> str:
        used = sorted({self.class_names[c] for c in np.unique(self.face_class) if c > 0})
        return (f"{self.scene_id}: {len(self.vertices)} vertices, {len(self.faces)} triangles, "
                f"{self.num_instances} instances, {len(used)} classes used, {len(self.rooms)} rooms"
                f"{', textured' if self.texture is not None else ''} ({self.source})")


def scene_hash(scene: Scene) -> str:
    """sha256 over every array and name that changes what a render of the scene looks like.

    Collect records it in a split's manifest; the deploy agent demo checks a rebuilt scene against it."""
    h = hashlib.sha256()
    arrays = [scene.vertices, scene.faces, scene.face_instance, scene.instance_class, scene.vertex_colors,
              scene.corner_uv, scene.texture]
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    h.update("\x00".join(scene.class_names).encode())
    return h.hexdigest()
