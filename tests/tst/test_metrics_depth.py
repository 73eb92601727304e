"""Depth metrics on hand-made maps: values worked out by hand, invalid pixels ignored, batching irrelevant."""

import math

import numpy as np
import pytest
import torch

from tst.metrics.depth import DepthEvaluator

GT_A = np.array([[1.0, 2.0], [4.0, 0.0]])  # 0 = no hit: ignored
PRED_A = np.array([[1.1, 2.0], [2.0, 9.0]])
GT_B = np.full((2, 2), 2.0)


def test_abs_rel_rmse_delta1_per_image_then_averaged():
    ev = DepthEvaluator()
    ev.process([{"depth": GT_A}, {"depth": torch.tensor(GT_B)}], [{"depth": PRED_A}, {"depth": torch.tensor(GT_B)}])
    got = ev.evaluate()
    # image A over its 3 valid pixels: |0.1|/1, 0/2, |2|/4 -> AbsRel 0.2; errors² 0.01, 0, 4; ratios 1.1, 1, 2
    # image B is exact: 0, 0, 100 %
    assert got["depth/AbsRel"] == pytest.approx((0.2 + 0.0) / 2, abs=1e-12)
    assert got["depth/RMSE"] == pytest.approx((math.sqrt(4.01 / 3) + 0.0) / 2, abs=1e-12)
    assert got["depth/delta1"] == pytest.approx((200 / 3 + 100.0) / 2, abs=1e-9)  # percent, 0-100
    assert set(got) == {"depth/AbsRel", "depth/RMSE", "depth/delta1"}


def test_batching_and_empty_images_do_not_change_the_result():
    one = DepthEvaluator()
    one.process([{"depth": GT_A}, {"depth": GT_B}], [{"depth": PRED_A}, {"depth": GT_B}])
    split = DepthEvaluator()
    split.process([{"depth": GT_A}], [{"depth": PRED_A}])
    split.process([{"depth": np.zeros((2, 2))}], [{"depth": np.ones((2, 2))}])  # no hit anywhere: left out
    split.process([{"depth": GT_B[None]}], [{"depth": GT_B}])  # [1, H, W] is the dataset's layout
    assert split.evaluate() == one.evaluate() and split.empty == 1


def test_max_depth_caps_the_scored_range_and_zero_predictions_stay_finite():
    ev = DepthEvaluator(max_depth=3.0)  # the 4 m pixel of A is out of range
    ev.process([{"depth": GT_A}], [{"depth": np.zeros((2, 2))}])
    got = ev.evaluate()
    assert got["depth/AbsRel"] == pytest.approx(1.0) and got["depth/delta1"] == 0.0
    assert got["depth/RMSE"] == pytest.approx(math.sqrt((1 + 4) / 2))


def test_bad_input_fails_clearly():
    ev = DepthEvaluator()
    with pytest.raises(ValueError, match="no image with a valid depth pixel"):
        ev.evaluate()
    with pytest.raises(ValueError, match="differ in size"):
        ev.process([{"depth": GT_A}], [{"depth": np.ones((3, 2))}])
    with pytest.raises(ValueError, match=r"expected a \[H, W\] depth map"):
        ev.process([{"depth": np.ones(4)}], [{"depth": np.ones(4)}])
    ev.process([{"depth": GT_B}], [{"depth": GT_B}])
    ev.reset()
    with pytest.raises(ValueError, match="no image"):
        ev.evaluate()
