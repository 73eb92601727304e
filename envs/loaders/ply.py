"""PLY reading and writing shared by the Replica and ScanNet++ loaders (both ship binary PLY meshes).

Why a module of our own around ``plyfile``: the datasets' files differ in details that matter
(Replica's faces are quads, its ``object_id`` is ``uint16`` in some releases and ``int32`` in others,
ScanNet++ writes triangles), and a wrong or missing property must fail with the file, the element and
the property expected vs found instead of a KeyError deep inside numpy.

Faces are read fast when every polygon has the same size (memory-mapped, the common case: all quads or
all triangles) and fall back to plyfile's per-row reader for mixed polygons. Polygons are fanned into
triangles: (a, b, c, d) -> (a, b, c), (a, c, d).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plyfile

FACE_LIST_NAMES = ("vertex_indices", "vertex_index")  # the first is standard; some writers use the second


def _check_schema(path: Path, found: dict[str, list[str]], required: dict[str, tuple[str, ...]]) -> None:
    """ValueError naming the file, element and property expected vs found when the schema differs."""
    for element, props in required.items():
        if element not in found:
            raise ValueError(f"{path}: PLY element {element!r} is missing; expected elements "
                             f"{sorted(required)}, found {sorted(found)}")
        for prop in props:
            names = FACE_LIST_NAMES if prop == "vertex_indices" else (prop,)
            if not any(n in found[element] for n in names):
                raise ValueError(f"{path}: PLY element {element!r} has no property {prop!r}; expected "
                                 f"{list(props)}, found {found[element]}")


def read_ply(path: str | Path, required: dict[str, tuple[str, ...]]) -> plyfile.PlyData:
    """Parse a PLY file and check that each ``required`` element has the named properties.

    Raises FileNotFoundError for a missing file and ValueError naming the file, the element and the
    properties expected vs found for a malformed file or a wrong schema.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PLY file {path} does not exist")
    data = None
    for n in (4, 3):  # fast memory-mapped path for uniform quads / triangles
        try:
            data = plyfile.PlyData.read(str(path), known_list_len={"face": {k: n for k in FACE_LIST_NAMES}})
            break
        except Exception:  # wrong guess of the polygon size or a malformed file: try the general reader
            data = None
    if data is None:
        try:
            data = plyfile.PlyData.read(str(path))
        except plyfile.PlyElementParseError as e:
            where = f"element {e.element.name!r} (of {e.element.count} rows), row {e.row}"
            if "end-of-file" in str(e.message) or "early end" in str(e.message):
                raise ValueError(f"{path}: the file is incomplete: its data ends early at {where} "
                                 f"({path.stat().st_size} bytes on disk); re-download or re-export it") from e
            raise ValueError(f"{path}: malformed PLY data at {where}"
                             f"{'' if e.prop is None else f', property {e.prop.name!r}'}: {e.message}") from e
        except Exception as e:
            raise ValueError(f"{path}: not a readable PLY file ({type(e).__name__}: {e}); expected a PLY "
                             f"header ('ply', 'format ...', 'element ...', 'property ...', 'end_header') "
                             f"followed by its data") from e
    found = {el.name: [p.name for p in el.properties] for el in data.elements}
    _check_schema(path, found, required)
    return data


def check_header(path: str | Path, required: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Check a PLY header without reading its (possibly gigabyte) body; returns element -> properties.

    Same errors as ``read_ply``; used for files whose data a loader does not need.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PLY file {path} does not exist")
    found: dict[str, list[str]] = {}
    current = None
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise ValueError(f"{path}: not a PLY file: the first line must be 'ply'")
        for _ in range(10_000):
            line = f.readline()
            if not line:
                raise ValueError(f"{path}: PLY header has no 'end_header' line")
            words = line.decode("ascii", errors="replace").split()
            if not words:
                continue
            if words[0] == "end_header":
                break
            if words[0] == "element" and len(words) >= 2:
                current = words[1]
                found[current] = []
            elif words[0] == "property" and current is not None:
                found[current].append(words[-1])
    _check_schema(path, found, required)
    return found


def vertex_positions(data: plyfile.PlyData) -> np.ndarray:
    """[V, 3] float32 x, y, z of the ``vertex`` element."""
    v = data["vertex"].data
    return np.stack([np.asarray(v["x"]), np.asarray(v["y"]), np.asarray(v["z"])], axis=1).astype(np.float32)


def vertex_colors(data: plyfile.PlyData) -> np.ndarray | None:
    """[V, 3] uint8 red, green, blue of the ``vertex`` element, or None when it has no colour."""
    names = [p.name for p in data["vertex"].properties]
    if not all(c in names for c in ("red", "green", "blue")):
        return None
    v = data["vertex"].data
    rgb = np.stack([np.asarray(v[c]) for c in ("red", "green", "blue")], axis=1)
    if np.issubdtype(rgb.dtype, np.floating):  # some writers store colours as floats in [0, 1]
        rgb = np.round(np.clip(rgb, 0.0, 1.0) * 255.0)
    return rgb.astype(np.uint8)


def face_property(data: plyfile.PlyData, name: str) -> np.ndarray:
    """[F] one scalar property of the ``face`` element, in its on-disk dtype."""
    return np.asarray(data["face"].data[name])


def face_polygons(data: plyfile.PlyData) -> np.ndarray | list[np.ndarray]:
    """[F, k] int64 polygons when all faces have k corners, else a list of per-face index arrays."""
    names = [p.name for p in data["face"].properties]
    key = next(k for k in FACE_LIST_NAMES if k in names)
    raw = data["face"].data[key]
    if raw.dtype != object:  # memory-mapped fixed-size lists: [F, k]
        return np.asarray(raw, dtype=np.int64)
    lengths = {len(p) for p in raw}
    if len(lengths) == 1:
        return np.stack(list(raw)).astype(np.int64) if len(raw) else np.zeros((0, 3), np.int64)
    return [np.asarray(p, dtype=np.int64) for p in raw]


def triangulate(polygons: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fan polygons into triangles.

    Returns ([T, 3] int32 triangles, [T] int64 index of the source polygon), in polygon order, so that
    per-polygon labels follow with ``labels[source]``. Polygons with fewer than 3 corners are dropped.
    """
    if isinstance(polygons, np.ndarray):
        groups = {polygons.shape[1]: (np.arange(len(polygons)), polygons)}
    else:
        by_len: dict[int, list[int]] = {}
        for i, p in enumerate(polygons):
            by_len.setdefault(len(p), []).append(i)
        groups = {k: (np.array(ids), np.stack([polygons[i] for i in ids])) for k, ids in by_len.items()}
    tris, srcs = [], []
    for k, (ids, polys) in groups.items():
        if k < 3:
            continue
        fan = [polys[:, [0, j, j + 1]] for j in range(1, k - 1)]  # (k - 2) x [n, 3]
        tris.append(np.stack(fan, axis=1).reshape(-1, 3))  # polygon-major order
        srcs.append(np.repeat(ids, k - 2))
    if not tris:
        return np.zeros((0, 3), np.int32), np.zeros(0, np.int64)
    tri, src = np.concatenate(tris), np.concatenate(srcs)
    order = np.argsort(src, kind="stable")  # back to file order when polygon sizes were mixed
    return tri[order].astype(np.int32), src[order]


def pair_quads(faces: np.ndarray) -> np.ndarray | None:
    """[F/2, 4] quads when consecutive triangles are (a, b, c), (a, c, d) pairs, else None.

    The inverse of ``triangulate`` on quads: it lets a writer emit Replica's real quad layout for scenes
    that were built from quads (the box-room fixture, Replica meshes that were loaded and re-written).
    """
    if len(faces) % 2:
        return None
    t0, t1 = faces[0::2], faces[1::2]
    if not ((t0[:, 0] == t1[:, 0]).all() and (t0[:, 2] == t1[:, 1]).all()):
        return None
    return np.concatenate([t0, t1[:, 2:3]], axis=1)


_PLY_TYPES = {"f4": "float", "f8": "double", "u1": "uchar", "i1": "char", "u2": "ushort", "i2": "short",
              "u4": "uint", "i4": "int"}


def _ply_type(dtype: np.dtype) -> str:
    key = f"{dtype.kind}{dtype.itemsize}"
    if key not in _PLY_TYPES:
        raise ValueError(f"dtype {dtype} has no PLY property type; use one of {sorted(_PLY_TYPES)}")
    return _PLY_TYPES[key]


def write_ply(path: str | Path, vertex: dict[str, np.ndarray], polygons: np.ndarray,
              face: dict[str, np.ndarray] | None = None, binary: bool = True,
              comments: tuple[str, ...] = ()) -> None:
    """Write a mesh: ``vertex`` maps property name -> [V] array (dtype kept), ``polygons`` is [F, k]
    (written as the list property ``vertex_indices`` with a uchar count and int32 indices, as Replica
    and ScanNet++ do), ``face`` maps extra per-face property name -> [F] array (dtype kept).

    Binary files are written as one packed little-endian record array per element (plyfile writes
    list rows one at a time: ~20 s per million faces); ASCII goes through plyfile.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vertex = {k: np.asarray(a) for k, a in vertex.items()}
    face = {k: np.asarray(a) for k, a in (face or {}).items()}
    polygons = np.asarray(polygons, dtype=np.int32)
    k = polygons.shape[1]
    vdt = np.dtype([(n, a.dtype.newbyteorder("<")) for n, a in vertex.items()])
    fdt = np.dtype([("\ncount", "u1"), ("vertex_indices", "<i4", (k,))]
                   + [(n, a.dtype.newbyteorder("<")) for n, a in face.items()])
    varr = np.empty(len(next(iter(vertex.values()))), dtype=vdt)
    for n, a in vertex.items():
        varr[n] = a
    farr = np.empty(len(polygons), dtype=fdt)
    farr["\ncount"] = k
    farr["vertex_indices"] = polygons
    for n, a in face.items():
        farr[n] = a
    if not binary:
        velem = plyfile.PlyElement.describe(varr, "vertex")
        fobj = np.empty(len(polygons), dtype=[("vertex_indices", np.int32, (k,))] + [(n, a.dtype) for n, a in face.items()])
        for n in fobj.dtype.names:
            fobj[n] = farr[n]
        felem = plyfile.PlyElement.describe(fobj, "face", len_types={"vertex_indices": "u1"})
        plyfile.PlyData([velem, felem], text=True, comments=list(comments)).write(str(path))
        return
    header = ["ply", "format binary_little_endian 1.0", *(f"comment {c}" for c in comments),
              f"element vertex {len(varr)}", *(f"property {_ply_type(a.dtype)} {n}" for n, a in vertex.items()),
              f"element face {len(farr)}", "property list uchar int vertex_indices",
              *(f"property {_ply_type(a.dtype)} {n}" for n, a in face.items()), "end_header"]
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(varr.tobytes())
        f.write(farr.tobytes())
