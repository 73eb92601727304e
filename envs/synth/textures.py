"""Procedural material textures baked into one atlas, so rendered RGB is never flat colour.

Each material is a seamless square tile (noise is filtered with wrap-around, patterns have
periods that divide the tile) covering ``MATERIALS[name].scale`` metres of surface. Most tiles are
near-white or grey and get their hue from the per-vertex tint (``mesh.Part.tint``), so one fabric
tile serves every sofa colour. Tile 0 of the atlas is pure white: faces without a texture (and
the atlas texel (0, 0) the Scene contract asks for) sample it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

TILE = 128  # pixels per material tile
COLS = 6  # tiles per atlas row


def _noise(rng: np.random.Generator, sigma, size: int = TILE) -> np.ndarray:
    """[size, size] seamless smooth noise, zero mean, unit std."""
    n = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-9)


def _grey(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[..., None], 3, -1)


def _white(rng):
    return np.full((TILE, TILE, 3), 255.0)


def _plaster(rng):
    return _grey(240 + 5 * _noise(rng, 6) + 3 * _noise(rng, 1))


def _wallpaper(rng):
    x = np.arange(TILE)
    stripe = np.where((x // 16) % 2 == 0, 250.0, 226.0) - 8 * ((x % 16) == 0)  # [W] 8 stripes
    return _grey(stripe[None, :] + 3 * _noise(rng, 1.5))


def _planks(rng):
    """Floor boards: 8 rows of planks with their own tone, grain along u, dark seams."""
    grain = _noise(rng, (0.7, 14))  # stretched along u (columns)
    row = np.arange(TILE)[:, None] // 16
    tone = rng.uniform(-18, 18, 8)[row]  # [H, 1]
    img = 200 + tone + 10 * grain
    img[np.arange(TILE) % 16 == 0, :] = 120  # long seams
    for r in range(8):  # one butt joint per row at a random place
        img[r * 16:(r + 1) * 16, int(rng.integers(0, TILE))] = 125
    return np.stack([img, img * 0.78, img * 0.55], -1)


def _wood(rng):
    warp = 6 * _noise(rng, 10)
    y = np.arange(TILE)[:, None] + warp
    rings = np.sin(2 * np.pi * y / 16.0)  # period divides the tile: seamless
    img = 205 + 14 * rings + 8 * _noise(rng, (0.6, 10))
    return np.stack([img, img * 0.8, img * 0.6], -1)


def _tiles(rng):
    """2 x 2 ceramic tiles per texture tile, grout lines, a little tone per tile."""
    half = TILE // 2
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    tone = rng.uniform(-8, 8, (2, 2))[yy // half, xx // half]
    img = 235 + tone + 2 * _noise(rng, 2)
    grout = (yy % half < 2) | (xx % half < 2)
    img[grout] = 170
    return _grey(img)


def _fabric(rng):
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    weave = np.where((xx + yy) % 4 < 2, 8.0, -8.0) * np.where(xx % 2 == 0, 1, -1)
    return _grey(225 + weave + 10 * _noise(rng, 3) + 4 * _noise(rng, 0.7))


def _carpet(rng):
    """Rug pattern: a border and a diamond lattice in two tones."""
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    diamond = (np.abs((xx % 32) - 16) + np.abs((yy % 32) - 16)) < 9
    img = np.where(diamond, 245.0, 180.0)
    border = (np.minimum(xx, TILE - 1 - xx) < 6) | (np.minimum(yy, TILE - 1 - yy) < 6)
    img[border] = 120
    return _grey(img + 6 * _noise(rng, 1))


def _metal(rng):
    return _grey(200 + 14 * _noise(rng, (0.5, 25)) + 20 * np.linspace(-1, 1, TILE)[:, None] ** 2)


def _ceramic(rng):
    return _grey(245 + 3 * _noise(rng, 8))


def _stone(rng):
    """Marble: sine veins bent by turbulence."""
    xx = np.arange(TILE)[None, :] + 20 * _noise(rng, 12)
    veins = np.abs(np.sin(2 * np.pi * xx / 64.0)) ** 0.2
    img = 170 + 70 * veins + 6 * _noise(rng, 2)
    return np.stack([img, img * 0.98, img * 0.95], -1)


def _glass(rng):
    g = np.linspace(0, 1, TILE)[:, None] + 0.15 * _noise(rng, 20)
    return np.stack([170 + 40 * g, 205 + 30 * g, 230 + 20 * g], -1) + 0 * g[..., None]


def _screen(rng):
    g = np.linspace(0, 1, TILE)[None, :] + np.linspace(0, 1, TILE)[:, None]
    img = 22 + 18 * g + 3 * _noise(rng, 4)
    return np.stack([img, img * 1.05, img * 1.25], -1)


def _leaves(rng):
    n = _noise(rng, 3) + 0.5 * _noise(rng, 1)
    light = np.clip(0.5 + 0.25 * n, 0, 1)
    return np.stack([40 + 60 * light, 90 + 110 * light, 30 + 40 * light], -1)


def _terracotta(rng):
    img = 190 + 10 * _noise(rng, 4)
    return np.stack([img, img * 0.62, img * 0.45], -1)


def _paper(rng):
    """Book covers: a light page edge band and a title block on a tintable cover."""
    img = 215 + 6 * _noise(rng, 2)
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    img[(yy > 24) & (yy < 40) & (xx > 16) & (xx < 112)] = 250
    img[(yy > 96) & (yy < 100)] = 140
    return _grey(img)


def _painting(rng):
    """An abstract painting: a random colour field with overlapping blobs, different per seed."""
    yy, xx = np.mgrid[0:TILE, 0:TILE] / TILE
    img = np.ones((TILE, TILE, 3)) * rng.uniform(80, 230, 3)
    for _ in range(6):
        c, r, col = rng.uniform(0, 1, 2), rng.uniform(0.08, 0.35), rng.uniform(20, 250, 3)
        mask = ((xx - c[0]) ** 2 + (yy - c[1]) ** 2) < r * r
        img[mask] = col
    return img + 8 * _noise(rng, 2)[..., None]


@dataclass(frozen=True)
class Material:
    make: Callable[[np.random.Generator], np.ndarray]  # rng -> [TILE, TILE, 3] float 0..255
    scale: float  # metres of surface one tile covers


MATERIALS: dict[str, Material] = {
    "white": Material(_white, 1.0), "plaster": Material(_plaster, 1.5), "wallpaper": Material(_wallpaper, 1.0),
    "planks": Material(_planks, 1.6), "wood": Material(_wood, 0.8), "tiles": Material(_tiles, 0.6),
    "fabric": Material(_fabric, 0.5), "carpet": Material(_carpet, 2.5), "metal": Material(_metal, 0.6),
    "ceramic": Material(_ceramic, 0.6), "stone": Material(_stone, 1.0), "glass": Material(_glass, 2.0),
    "screen": Material(_screen, 2.0), "leaves": Material(_leaves, 0.4), "terracotta": Material(_terracotta, 0.5),
    "paper": Material(_paper, 0.4), "painting0": Material(_painting, 2.0), "painting1": Material(_painting, 2.0),
    "painting2": Material(_painting, 2.0), "painting3": Material(_painting, 2.0),
}
MAT = {name: i for i, name in enumerate(MATERIALS)}  # name -> material index
PAINTINGS = [MAT[f"painting{i}"] for i in range(4)]


def material_scale(mat: int) -> float:
    return list(MATERIALS.values())[mat].scale


class Atlas:
    """All material tiles in one uint8 image, and the map from tile-local to atlas UVs."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng([seed, 7])
        n = len(MATERIALS)
        rows = -(-n // COLS)
        img = np.zeros((rows * TILE, COLS * TILE, 3), np.float64)  # [H, W, 3]
        for i, mat in enumerate(MATERIALS.values()):
            r, c = divmod(i, COLS)
            img[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = mat.make(rng)
        self.image = np.clip(np.rint(img), 0, 255).astype(np.uint8)  # [H, W, 3]
        assert (self.image[0, 0] == 255).all(), "atlas texel (0, 0) must be white"

    def atlas_uv(self, uv: np.ndarray, mat: np.ndarray) -> np.ndarray:
        """Tile-local UVs [F, 3, 2] of materials [F] -> atlas UVs in [0, 1] (u right, v down).

        Tile coordinates are inset by half a texel so bilinear sampling never reads a neighbour.
        """
        h, w = self.image.shape[:2]
        r, c = np.divmod(mat, COLS)  # [F]
        px = c[:, None] * TILE + 0.5 + uv[..., 0] * (TILE - 1)  # [F, 3]
        py = r[:, None] * TILE + 0.5 + uv[..., 1] * (TILE - 1)
        return np.stack([px / w, py / h], -1).astype(np.float32)
