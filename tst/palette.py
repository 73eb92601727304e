"""Colours for class and instance ids: one table for every picture tst draws.

Previews of collected data, deploy overlays, agent GIFs and the semantic map all colour class
``c`` with ``class_colour(c)``, so a sofa is the same orange in all of them. Id 0 (unlabelled /
no hit) is black. The first 20 classes get tab20's distinct colours, later ids golden-ratio
hues; a class's colour depends on its id only, never on how many classes a picture shows.
"""

from __future__ import annotations

import colorsys

import numpy as np

_TAB20 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
          (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
          (219, 219, 141), (158, 218, 229)]
_GOLDEN = 0.618033988749895


def class_colour(c: int) -> tuple[int, int, int]:
    """RGB colour of class id ``c`` (0 = black): 20 distinct colours, then golden-ratio hues."""
    if c <= 0:
        return (0, 0, 0)
    if c <= len(_TAB20):
        return _TAB20[c - 1]
    r, g, b = colorsys.hsv_to_rgb((c * _GOLDEN) % 1.0, 0.55 + 0.4 * ((c * 7) % 3) / 2, 0.95)
    return (int(r * 255), int(g * 255), int(b * 255))


def class_palette(n: int) -> np.ndarray:
    """[n, 3] uint8 lookup table of ``class_colour`` for ids 0..n-1 (at least one row)."""
    return np.array([class_colour(c) for c in range(max(int(n), 1))], np.uint8)


def instance_palette(n: int) -> np.ndarray:
    """[n, 3] uint8 table for instance ids: bright, well-separated hues by id, 0 black."""
    hues = (np.arange(max(int(n), 1)) * _GOLDEN) % 1.0
    rgb = [colorsys.hsv_to_rgb(h, 0.65 + 0.3 * (i % 2), 0.6 + 0.4 * (i % 3) / 2) for i, h in enumerate(hues)]
    out = (np.array(rgb) * 255).astype(np.uint8)
    out[0] = 0
    return out
