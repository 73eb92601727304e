"""A fast, lossless PNG writer for the arrays tst stores (uint8 grey/RGB/RGBA, uint16 grey/RGB).

Why by hand: PNG encoding dominated collection time (cv2 at zlib level 1: ~24 ms for the five
images of a 256² frame, more than the ray cast). The format itself is tiny — a signature, an IHDR
chunk, one IDAT chunk holding zlib-compressed filtered rows, an IEND chunk — and the slow part is
deflate. Here every row uses PNG's "Up" filter (one vectorised numpy subtraction) and deflate runs in
ISA-L (python-isal, SIMD deflate): ~8x faster than cv2 at the same file size. Any PNG reader
decodes the result (tests check cv2 and Pillow, bit-exact).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from isal import isal_zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_FILTER_UP = 2
LEVEL = 1  # ISA-L levels 0..3; 1 is the speed/size sweet spot for rendered frames


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


def encode_png(img: np.ndarray, level: int = LEVEL) -> bytes:
    """[H, W] or [H, W, C] uint8/uint16 array (channels in RGB order) -> PNG bytes."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG stores uint8 or uint16 arrays, got {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in _COLOR_TYPE):
        raise ValueError(f"PNG needs [H, W] or [H, W, 1|2|3|4], got shape {img.shape}")
    h, w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    depth = 8 if img.dtype == np.uint8 else 16
    raw = np.ascontiguousarray(img, dtype=">u2" if depth == 16 else np.uint8).view(np.uint8).reshape(h, -1)
    rows = np.empty((h, raw.shape[1] + 1), np.uint8)  # [H, 1 + W*C*bytes]: filter byte + filtered row
    rows[:, 0] = _FILTER_UP
    rows[0, 1:] = raw[0]
    np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])  # uint8 wrap-around is exactly PNG's mod-256
    header = struct.pack(">IIBBBBB", w, h, depth, _COLOR_TYPE[channels], 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", isal_zlib.compress(rows, level))
            + _chunk(b"IEND", b""))
