"""tst.plots: the crossing point of the external-data curve, and real PNG files from every plot."""

import math

import matplotlib.image as mpimg
import numpy as np
import pytest

from tst.plots import bar_plot, crossing_plot, crossing_point, heatmap


@pytest.mark.parametrize(("ys", "ref", "expected"), [
    ([10, 20, 30, 40], 25, 3.0),            # between k=2 (20) and k=4 (30): 2 + 5/10 * 2
    ([10, 20, 30, 40], 40, 8.0),            # reached exactly at the last point
    ([30, 35, 40, 45], 25, 1.0),            # above from the start
    ([10, 20, 30, 40], 41, None),           # never reached
    ([10, math.nan, 30, 40], 20, 2.5),      # a failed point is skipped: 1 + 10/20 * 3
    ([10, 30, 20, 40], 25, 1.75),           # the first crossing counts
])
def test_crossing_point(ys, ref, expected):
    got = crossing_point([1, 2, 4, 8], ys, ref)
    assert got == pytest.approx(expected) if expected is not None else got is None


def _png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100 and np.ptp(img[..., :3]) > 0.5  # not a blank canvas
    return img


def test_bar_plot_heatmap_and_crossing_plot_write_pngs(tmp_path):
    _png(bar_plot({"tst": {"semseg/mIoU": 40.0, "det/AP": 5.0}, "scratch": {"semseg/mIoU": 30.0, "det/AP": math.nan}},
                  tmp_path / "bars.png", errors={"tst": {"semseg/mIoU": 2.0}}, title="gain"))
    wide = _png(heatmap([[1.0, 2.0, 3.0], [4.0, math.nan, 6.0]], ["a", "b"], ["x", "y", "z"], tmp_path / "h.png"))
    narrow = _png(heatmap([[1.0]], ["a"], ["x"], tmp_path / "h1.png"))
    assert wide.shape[1] > narrow.shape[1]  # the figure grows with the matrix
    png, cross = crossing_plot([1, 2, 4], [10.0, 20.0, 30.0], 25.0, tmp_path / "sub" / "c.png")
    assert cross == pytest.approx(3.0) and png == tmp_path / "sub" / "c.png"
    _png(png)


def test_bar_plot_draws_the_reference_line_where_given(tmp_path):
    vals = {"tst": {"semseg/mIoU": 40.0, "caption/CIDEr": 0.8}, "scratch": {"semseg/mIoU": 30.0, "caption/CIDEr": 0.6}}
    plain = _png(bar_plot(vals, tmp_path / "a.png"))
    same = _png(bar_plot(vals, tmp_path / "b.png", reference={"semseg/mIoU": math.nan}))
    lined = _png(bar_plot(vals, tmp_path / "c.png", reference={"semseg/mIoU": 20.0}))
    assert (plain == same).all()  # NaN (unknown chance) draws nothing
    def dark(img):  # [H, W] near-black pixels
        return img[..., :3].max(axis=-1) < 0.25  # matplotlib reads PNGs as floats in [0, 1]

    half = plain.shape[1] // 2
    new = dark(lined) & ~dark(plain)  # [H, W]
    # a dashed horizontal line across the first (semseg) panel: one row gains many dark pixels there
    assert new[:, :half].sum(axis=1).max() > 60
    assert new[:, half:].sum(axis=1).max() < 20  # the caption panel has no reference
