"""What furniture and clutter builders return, and the shared colour palettes.

Builders make objects in a local frame: footprint x in [-w/2, w/2], y in [0, d] with the *back*
at y = 0 (the side that goes against a wall) and the front facing +y, standing on z = 0. The
placer turns them by quarter turns and moves them into a room.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tst.envs.synth.mesh import Part


@dataclass
class Surface:
    """A horizontal rectangle clutter can stand on, in the object's frame."""

    lo: tuple[float, float]  # x, y
    hi: tuple[float, float]
    z: float  # height of the top face
    clearance: float  # free height above it (shelf board spacing; 1 m for open tops)
    kind: str  # which clutter suits it: "table", "shelf", "counter", "nightstand", "desk", "stand"


@dataclass
class Obj:
    """One instance-to-be: class, local mesh, surfaces, and what it stands on inside its group."""

    cls: str
    part: Part
    surfaces: list[Surface] = field(default_factory=list)
    support: int | None = None  # index of the group member it rests on; None = floor or wall
    walkable: bool = False  # rugs: lie on the floor but do not block walking
    hanging: bool = False  # pictures, mirrors: on a wall, above the floor


WOODS = [(255, 238, 215), (215, 170, 130), (160, 115, 85), (250, 250, 248), (120, 90, 70), (235, 215, 185)]
FABRICS = [(110, 120, 140), (150, 60, 55), (90, 110, 90), (200, 190, 170), (70, 70, 80), (210, 140, 60),
           (120, 150, 190), (235, 235, 230), (160, 130, 160)]
PAINTS = [(250, 250, 250), (230, 230, 225), (60, 65, 75), (190, 210, 220), (215, 200, 180)]
CERAMIC = (248, 248, 250)


def pick(rng: np.random.Generator, palette: list) -> tuple[int, int, int]:
    """A palette colour, jittered a little so no two objects are exactly alike."""
    base = np.asarray(palette[int(rng.integers(len(palette)))], np.int64)
    return tuple(int(c) for c in np.clip(base + rng.integers(-12, 13, 3), 0, 255))
