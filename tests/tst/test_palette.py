"""One colour per class id across previews and overlays."""

import numpy as np

from tst.palette import class_colour, class_palette, instance_palette


def test_class_palette_is_stable_distinct_and_black_for_unlabelled():
    p = class_palette(60)
    assert p.shape == (60, 3) and p.dtype == np.uint8 and p[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in p}) == 60  # distinct colours, past the 20 tabulated ones too
    np.testing.assert_array_equal(class_palette(5), p[:5])  # a class keeps its colour whatever the vocabulary size
    assert [tuple(c) for c in p[:4]] == [class_colour(c) for c in range(4)]
    assert class_colour(1) == (31, 119, 180) and class_colour(21) == tuple(p[21])


def test_instance_palette_separates_neighbouring_ids():
    p = instance_palette(50).astype(int)
    assert p[0].tolist() == [0, 0, 0] and (p[1:].sum(1) > 0).all()
    assert (np.abs(np.diff(p[1:], axis=0)).sum(1) > 40).all()  # ids k and k+1 never look alike
