"""Overlay drawing: stable class colours, blends that leave unlabelled pixels alone, boxes where they belong."""

import cv2
import numpy as np

from tst.palette import class_palette
from tst.transfer.overlay import (
    annotate,
    blend,
    caption_band,
    colorize,
    draw_boxes,
    enlarge,
    hstack,
    vstack,
    write_png,
    zoom_factor,
)


def test_colorize_maps_ids_through_the_shared_class_palette():
    p = class_palette(30)
    lab = np.array([[0, 1], [4, 25]], dtype=np.uint16)
    np.testing.assert_array_equal(colorize(lab), p[lab.astype(int)])


def test_blend_tints_only_labelled_pixels():
    rgb = np.full((2, 2, 3), 100, np.uint8)
    lab = np.array([[0, 1], [2, 0]])
    out = blend(rgb, lab, alpha=0.5)
    assert out[0, 0].tolist() == [100, 100, 100] and out[1, 1].tolist() == [100, 100, 100]
    expected = np.round(0.5 * 100 + 0.5 * class_palette(3)[1].astype(float)).astype(int)
    assert out[0, 1].tolist() == expected.tolist()
    assert rgb[0, 1].tolist() == [100, 100, 100]  # the input is not drawn on


def test_boxes_are_drawn_on_their_edges_in_the_class_colour():
    rgb = np.zeros((40, 40, 3), np.uint8)
    out = draw_boxes(rgb, [[10, 10, 30, 30]], labels=np.array([2]))
    colour = class_palette(3)[2].tolist()
    assert out[10, 20].tolist() == colour and out[20, 10].tolist() == colour  # top and left edges
    assert out[20, 20].tolist() == [0, 0, 0] and out[5, 5].tolist() == [0, 0, 0]  # inside and outside untouched
    assert not rgb.any()


def test_annotate_enlarges_small_frames_and_adds_a_fixed_caption_band():
    rgb = np.full((64, 48, 3), 50, np.uint8)
    sem = np.zeros((64, 48), np.uint16)
    sem[:32] = 1
    result = {"semseg": sem, "caption": "a room",
              "detections": {"boxes": np.array([[4.0, 4.0, 20.0, 20.0]]), "labels": np.array([1]), "names": ["floor"],
                             "scores": np.array([0.9])}}
    f = zoom_factor(rgb.shape, 192)
    assert f == 4
    out = annotate(rgb, result)
    assert out.shape == (64 * f + 46, 48 * f, 3)
    assert out[200, 100].tolist() == [50, 50, 50]  # lower half unlabelled, away from the box
    assert out[100, 150].tolist() != [50, 50, 50]  # upper half tinted
    assert annotate(rgb, {"caption": "a much longer caption " * 5}).shape == out.shape  # same size every frame
    np.testing.assert_array_equal(enlarge(sem, 2)[::2, ::2], sem)


def test_panels_stack_and_round_trip_through_png(tmp_path):
    a, b = np.zeros((10, 8, 3), np.uint8), np.full((6, 5, 3), 7, np.uint8)
    row = hstack([a, b], gap=2)
    assert row.shape == (10, 15, 3) and row[7, 12].tolist() == [255, 255, 255]  # b padded with white
    assert hstack([a, b], ["x", "y"], gap=2).shape == (28, 15, 3)  # an 18 px title bar
    assert vstack([a, row], gap=1).shape == (21, 15, 3)
    assert caption_band(a, "hi").shape == (56, 8, 3)
    img = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", img)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(tmp_path / "x.png")), cv2.COLOR_BGR2RGB), img)
