"""Up-axis and unit normalisation: every Scene is z-up and in metres, whatever the file said.

Meshes from the wild disagree: glTF is y-up by specification (but exporters often bake z-up data into
it anyway, e.g. Blender with "+Y up" unticked), OBJ/PLY carry no convention at all, and CAD or
photogrammetry exports are often in centimetres or millimetres. The rules here are deliberately
simple and logged, and both decisions can be overridden (``up_axis=``, ``units=``).

Up axis (``detect_up_axis``): indoor spaces are much wider than they are tall, so among the two
candidate up axes (y and z; x-up files are not seen in practice) the one with clearly the smaller
extent, at most ``UP_RATIO`` times the other, is up. When neither is clearly smaller (a cube-ish
object), the format's convention decides: y for glTF/glb, z otherwise.

Units (``detect_units``), applied to the vertical extent H after the up axis is fixed, because
floor-to-ceiling height is the one size every indoor scene shares (2.2 to 3.5 m per storey):
H <= 20 -> metres, 20 < H <= 1000 -> centimetres (0.2 to 10 m), H > 1000 -> millimetres (> 1 m).
Flat meshes (H close to 0) come out as metres; pass ``units=`` explicitly for them.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}  # multiply file coordinates by this to get metres
UP_AXES = ("auto", "y", "z")
UP_RATIO = 0.6
METRE_MAX_HEIGHT = 20.0
CENTIMETRE_MAX_HEIGHT = 1000.0


def detect_up_axis(vertices: np.ndarray, default: str) -> tuple[str, str]:
    """("y" | "z", reason) for [V, 3] vertices in file coordinates; ``default`` when undecided."""
    if default not in ("y", "z"):
        raise ValueError(f"default up axis must be 'y' or 'z', got {default!r}")
    ext = vertices.max(0) - vertices.min(0)  # [3]
    ey, ez = float(ext[1]), float(ext[2])
    if min(ey, ez) <= UP_RATIO * max(ey, ez):
        axis = "y" if ey < ez else "z"
        return axis, f"{axis}-extent {min(ey, ez):.3g} <= {UP_RATIO} x the other {max(ey, ez):.3g} (rooms are wider than tall)"
    return default, f"y-extent {ey:.3g} and z-extent {ez:.3g} are alike: format convention ({default}-up)"


def y_up_to_z_up(vertices: np.ndarray) -> np.ndarray:
    """[V, 3] -> [V, 3]: rotate +90 degrees about x, (x, y, z) -> (x, -z, y). Keeps handedness, so
    triangle winding and normals stay valid; glTF's +y (up) becomes +z and its +z (front) becomes -y."""
    out = np.empty_like(vertices)
    out[:, 0] = vertices[:, 0]
    out[:, 1] = -vertices[:, 2]
    out[:, 2] = vertices[:, 1]
    return out


def detect_units(vertices_z_up: np.ndarray) -> tuple[str, str]:
    """("m" | "cm" | "mm", reason) from the vertical extent of z-up vertices (see module docstring)."""
    h = float(vertices_z_up[:, 2].max() - vertices_z_up[:, 2].min()) if len(vertices_z_up) else 0.0
    if h <= METRE_MAX_HEIGHT:
        return "m", f"vertical extent {h:.4g} <= {METRE_MAX_HEIGHT:g}"
    if h <= CENTIMETRE_MAX_HEIGHT:
        return "cm", f"vertical extent {h:.4g} in ({METRE_MAX_HEIGHT:g}, {CENTIMETRE_MAX_HEIGHT:g}]"
    return "mm", f"vertical extent {h:.4g} > {CENTIMETRE_MAX_HEIGHT:g}"


def normalise(vertices: np.ndarray, up_axis: str = "auto", units: str = "auto", default_up: str = "z",
              name: str = "mesh") -> tuple[np.ndarray, dict]:
    """Bring [V, 3] file coordinates to z-up metres.

    Returns (vertices [V, 3] float32, decision) where decision holds ``up_axis``, ``units``, ``scale``
    and the human-readable reasons; the decision is also logged at INFO level, naming ``name``.
    """
    if up_axis not in UP_AXES:
        raise ValueError(f"{name}: up_axis must be one of {list(UP_AXES)}, got {up_axis!r}")
    if units != "auto" and units not in UNIT_SCALE:
        raise ValueError(f"{name}: units must be one of {['auto', *UNIT_SCALE]}, got {units!r}")
    v = np.asarray(vertices, dtype=np.float64)
    if len(v) == 0:
        raise ValueError(f"{name}: the mesh has no vertices, so it is an empty scene")
    if up_axis == "auto":
        up_axis, up_reason = detect_up_axis(v, default_up)
    else:
        up_reason = "given"
    if up_axis == "y":
        v = y_up_to_z_up(v)
    if units == "auto":
        units, unit_reason = detect_units(v)
    else:
        unit_reason = "given"
    scale = UNIT_SCALE[units]
    decision = {"up_axis": up_axis, "up_reason": up_reason, "units": units, "unit_reason": unit_reason,
                "scale": scale}
    log.info("%s: %s-up (%s), units %s (%s)", name, up_axis, up_reason, units, unit_reason)
    return (v * scale).astype(np.float32), decision
