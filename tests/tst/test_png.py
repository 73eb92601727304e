"""The hand-written PNG encoder is lossless for every array kind tst stores, read by cv2 and Pillow."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tst.png import encode_png


@pytest.mark.parametrize(("shape", "dtype"), [((7, 5), np.uint8), ((7, 5, 3), np.uint8), ((7, 5, 4), np.uint8),
                                              ((6, 9), np.uint16), ((6, 9, 3), np.uint16), ((1, 1), np.uint8)])
def test_round_trip_is_bit_exact_in_cv2_and_pillow(shape, dtype):
    rng = np.random.default_rng(0)
    img = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    data = encode_png(img)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3 and img.shape[2] >= 3:  # cv2 returns BGR(A)
        back = back[..., [2, 1, 0, 3][: img.shape[2]]]
    np.testing.assert_array_equal(back.reshape(img.shape), img)
    assert back.dtype == dtype
    if dtype == np.uint8:  # Pillow reads 8-bit grey/RGB/RGBA exactly
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


def test_smooth_images_compress_like_a_standard_encoder():
    y, x = np.mgrid[0:128, 0:128]
    img = np.stack([x * 2, y * 2, (x + y)], -1).astype(np.uint8)
    ours = len(encode_png(img))
    cv = len(cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1])
    assert ours < img.nbytes / 4 and ours < 2 * cv


def test_rejects_what_png_cannot_hold():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((2, 2, 5), np.uint8))
