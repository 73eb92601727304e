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


@pytest.mark.parametrize(("shape", "dtype"), [((7, 5), np.uint8), ((7, 5, 3), np.uint8), ((7, 5, 4), np.uint8),
                                              ((6, 9), np.uint16), ((6, 9, 3), np.uint16), ((1, 1), np.uint8),
                                              ((33, 17, 2), np.uint8)])
def test_reader_inverts_the_writer_and_reads_other_writers(shape, dtype):
    from tst.png import _read_fast, decode_png

    img = np.random.default_rng(1).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    ours = encode_png(img)
    assert _read_fast(ours) is not None  # our layout takes the fast path …
    np.testing.assert_array_equal(decode_png(ours), img)
    assert decode_png(ours).dtype == dtype
    if img.ndim == 2 or img.shape[2] in (3, 4):  # … and cv2's PNGs (Paeth/Sub filters) read the same
        bgr = img if img.ndim == 2 else img[..., [2, 1, 0, 3][: img.shape[2]]]
        theirs = cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
        np.testing.assert_array_equal(decode_png(theirs), img)


def test_reader_on_a_paeth_filtered_smooth_image_falls_back_to_cv2():
    from tst.png import _read_fast, decode_png

    y, x = np.mgrid[0:40, 0:40]
    img = np.stack([x * 3, y * 5, x + y], -1).astype(np.uint8)
    theirs = cv2.imencode(".png", img[..., ::-1].copy())[1].tobytes()  # cv2 picks adaptive filters
    assert _read_fast(theirs) is None
    np.testing.assert_array_equal(decode_png(theirs), img)
    with pytest.raises(ValueError, match="not a decodable PNG"):
        decode_png(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
