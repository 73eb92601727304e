"""Tiny scenes with known geometry, and writers that put them on disk in the REAL source formats.

Other engineers' tests import these (exact-depth renders, collect smoke tests), so the geometry of
``make_box_room`` is a documented contract, not an implementation detail:

- the room spans x in [0, width], y in [0, depth], z in [0, height] (z-up, metres);
- floor (z = 0), ceiling (z = height) and the four walls (x = 0, x = width, y = 0, y = depth) are each
  ONE quad = two triangles with four vertices of their own, wound so that normals point INTO the room;
- the table is a closed axis-aligned box (6 quads, 24 own vertices, normals pointing OUT) resting on
  the floor: x in cx +- sx/2, y in cy +- sy/2, z in [0, sz];
- every quad (a, b, c, d) is split into triangles (a, b, c), (a, c, d), so a quad writer can re-pair
  consecutive triangles exactly;
- instance ids: 1 floor, 2 ceiling, 3 wall x=0, 4 wall x=width, 5 wall y=0, 6 wall y=depth, 7 table;
  classes ``BOX_ROOM_CLASSES`` = unlabelled, floor, ceiling, wall, table (ids 0..4);
- every instance has its own uniform vertex colour ``BOX_ROOM_COLORS[instance]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tst.envs.scene import Room, Scene

BOX_ROOM_CLASSES = ["unlabelled", "floor", "ceiling", "wall", "table"]
# instance id -> class id (index 0 is "no instance")
BOX_ROOM_INSTANCE_CLASS = np.array([0, 1, 2, 3, 3, 3, 3, 4], dtype=np.int32)
BOX_ROOM_INSTANCE_NAMES = {1: "floor", 2: "ceiling", 3: "wall_x0", 4: "wall_x1", 5: "wall_y0",
                           6: "wall_y1", 7: "table"}
BOX_ROOM_COLORS = np.array([
    [0, 0, 0],  # unused (instance 0)
    [150, 120, 90],  # floor
    [240, 240, 240],  # ceiling
    [200, 190, 170], [190, 200, 170], [170, 190, 200], [200, 170, 190],  # walls
    [120, 70, 30],  # table
], dtype=np.uint8)


def _oriented_quad(corners: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """[4, 3] corners in cyclic order, reversed if needed so that (b-a) x (c-a) points along normal."""
    a, b, c = corners[0], corners[1], corners[2]
    if np.dot(np.cross(b - a, c - a), normal) < 0:
        corners = corners[::-1]
    return np.ascontiguousarray(corners)


def _box_quads(lo: np.ndarray, hi: np.ndarray, inward: bool) -> list[np.ndarray]:
    """The 6 faces of an axis-aligned box as [4, 3] quads: -x, +x, -y, +y, -z, +z."""
    quads = []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        for side, value in ((-1, lo[axis]), (1, hi[axis])):
            corners = np.zeros((4, 3))
            corners[:, axis] = value
            corners[:, u] = [lo[u], hi[u], hi[u], lo[u]]
            corners[:, v] = [lo[v], lo[v], hi[v], hi[v]]
            normal = np.zeros(3)
            normal[axis] = -side if inward else side
            quads.append(_oriented_quad(corners, normal))
    return quads


def make_box_room(width: float = 4.0, depth: float = 3.0, height: float = 2.5,
                  table_size: tuple[float, float, float] = (1.0, 0.6, 0.75),
                  table_center: tuple[float, float] = (2.0, 1.5), scene_id: str = "box_room") -> Scene:
    """An axis-aligned w x d x h room with one table; see the module docstring for the exact layout."""
    room = _box_quads(np.zeros(3), np.array([width, depth, height]), inward=True)
    # room quads come as -x, +x, -y, +y, -z, +z: reorder to floor, ceiling, walls x0, x1, y0, y1
    room = [room[4], room[5], room[0], room[1], room[2], room[3]]
    sx, sy, sz = table_size
    cx, cy = table_center
    table = _box_quads(np.array([cx - sx / 2, cy - sy / 2, 0.0]), np.array([cx + sx / 2, cy + sy / 2, sz]),
                       inward=False)
    quads = room + table  # 12 quads
    quad_instance = np.array([1, 2, 3, 4, 5, 6] + [7] * 6, dtype=np.int32)

    vertices = np.concatenate(quads).astype(np.float32)  # [48, 3]
    base = 4 * np.arange(len(quads), dtype=np.int32)[:, None]  # [Q, 1]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]], axis=1).reshape(-1, 3)  # [2Q, 3]
    face_instance = np.repeat(quad_instance, 2)  # [2Q]
    vertex_colors = BOX_ROOM_COLORS[np.repeat(quad_instance, 4)]  # [48, 3]
    outline = np.array([[0, 0], [width, 0], [width, depth], [0, depth]], dtype=np.float32)
    return Scene(
        vertices=vertices, faces=faces.astype(np.int32), face_instance=face_instance,
        instance_class=BOX_ROOM_INSTANCE_CLASS.copy(), class_names=list(BOX_ROOM_CLASSES),
        vertex_colors=vertex_colors, scene_id=scene_id,
        source=f"box room {width}x{depth}x{height} m (tests.envs.fixtures)",
        rooms=[Room("room", outline, 0.0, float(height))],
        instance_names=dict(BOX_ROOM_INSTANCE_NAMES),
    ).validate()


def face_centroids(scene: Scene) -> np.ndarray:
    """[F, 3] centroid of every triangle (handy for geometric label checks)."""
    return scene.vertices[scene.faces].mean(axis=1)


def instance_centroid(scene: Scene, instance: int) -> np.ndarray:
    """[3] mean of the vertices used by one instance's faces."""
    used = np.unique(scene.faces[scene.face_instance == instance])
    return scene.vertices[used].mean(axis=0)



# ---------------------------------------------------------------------------- writers in real formats
def write_replica_fixture(scene: Scene, directory: str | Path, quads: bool = True,
                          object_id_type: str = "int32") -> Path:
    """Write ``scene`` as a Replica scene folder (quad faces and int32 object ids by default, as the
    release does; ``object_id_type="uint16"`` for the other release) and return the folder."""
    from tst.envs.loaders.replica import write_replica

    write_replica(scene, directory, quads=quads, object_id_type=object_id_type)
    return Path(directory)


def write_scannetpp_fixture(scene: Scene, directory: str | Path) -> Path:
    """Write ``scene`` as a ScanNet++ scene folder (scans/mesh_aligned_0.05.ply, segments.json,
    segments_anno.json) and return the folder."""
    from tst.envs.loaders.scannetpp import write_scannetpp

    write_scannetpp(scene, directory)
    return Path(directory)


def write_mesh_fixture(scene: Scene, path: str | Path) -> Path:
    """Write ``scene`` through trimesh as .glb, .obj or .ply (chosen by the extension) and return the path.

    glb/obj get one node (obj: one ``o`` object) per instance, named ``<class>_<instance>`` so that
    ``load_mesh`` recovers the class from the name, with vertex colours; glb is written y-up as its
    specification says ((x, y, z) -> (x, z, -y)). ply is one mesh with vertex colours and no names (PLY
    has no scene graph), so it loads unlabelled. Textures are not written.
    """
    import trimesh

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".glb", ".obj", ".ply"):
        raise ValueError(f"write_mesh_fixture writes .glb, .obj or .ply, not {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    colors = scene.vertex_colors if scene.vertex_colors is not None else np.full((len(scene.vertices), 3), 200)
    vertices = scene.vertices.astype(np.float64)
    if ext == ".glb":
        vertices = np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1)
    if ext == ".ply":
        mesh = trimesh.Trimesh(vertices, scene.faces, vertex_colors=colors, process=False)
        mesh.export(str(path))
        return path
    tscene = trimesh.Scene()
    for inst in np.unique(scene.face_instance):
        used, inv = np.unique(scene.faces[scene.face_instance == inst], return_inverse=True)
        name = f"{scene.class_names[scene.instance_class[inst]]}_{inst}"
        part = trimesh.Trimesh(vertices[used], inv.reshape(-1, 3), vertex_colors=colors[used], process=False)
        tscene.add_geometry(part, node_name=name, geom_name=name)
    tscene.export(str(path))
    return path
