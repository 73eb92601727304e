"""SemSegEvaluator on hand-computed cases: the numbers a broken confusion matrix would get wrong."""

import numpy as np
import pytest
import torch

from tst.metrics.semseg import SemSegEvaluator

VOCAB = {1: "wall", 2: "floor", 3: "chair"}


def _eval(gts, preds, vocab=VOCAB):
    ev = SemSegEvaluator(vocab)
    ev.process([{"semseg": g} for g in gts], [{"semseg": p} for p in preds])
    return ev, ev.evaluate()


def test_perfect_prediction_is_100_and_absent_class_is_excluded():
    gt = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    ev, m = _eval([gt], [gt.copy()])
    assert m["semseg/mIoU"] == pytest.approx(100.0)
    assert m["semseg/pixel_acc"] == pytest.approx(100.0)
    assert m["semseg/IoU/wall"] == pytest.approx(100.0) and m["semseg/IoU/floor"] == pytest.approx(100.0)
    assert "semseg/IoU/chair" not in m  # never in the ground truth: undefined, not 0
    assert ev.absent == ["chair"]


def test_empty_prediction_scores_zero():
    gt = np.array([[1, 1, 2, 2], [3, 3, 2, 2]])
    _, m = _eval([gt], [np.zeros_like(gt)])  # everything predicted "unlabelled"
    assert m["semseg/mIoU"] == 0.0 and m["semseg/pixel_acc"] == 0.0


def test_hand_computed_partial_case():
    gt = np.array([[1, 1, 1, 1], [2, 2, 2, 2], [0, 0, 0, 0]])  # last row unlabelled: ignored
    pred = np.array([[1, 1, 2, 2], [2, 2, 2, 2], [3, 3, 1, 1]])
    _, m = _eval([gt], [torch.from_numpy(pred)])
    # wall: TP 2, FN 2, FP 0 -> 2/4; floor: TP 4, FP 2 -> 4/6; chair absent from GT -> excluded
    assert m["semseg/IoU/wall"] == pytest.approx(50.0)
    assert m["semseg/IoU/floor"] == pytest.approx(400.0 / 6.0)
    assert m["semseg/mIoU"] == pytest.approx((50.0 + 400.0 / 6.0) / 2.0)
    assert m["semseg/pixel_acc"] == pytest.approx(75.0)


def test_wrong_predictions_of_an_absent_class_still_cost_the_present_one():
    gt = np.array([[1, 1, 1, 1]])
    pred = np.array([[1, 3, 3, 3]])
    _, m = _eval([gt], [pred])
    assert m["semseg/mIoU"] == pytest.approx(25.0)  # wall 1/4; chair absent -> not in the mean


def test_accumulation_does_not_depend_on_batching():
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 4, size=(8, 8)) for _ in range(4)]
    preds = [rng.integers(0, 4, size=(8, 8)) for _ in range(4)]
    _, together = _eval(gts, preds)
    ev = SemSegEvaluator(VOCAB)
    for g, p in zip(gts, preds):
        ev.process([{"semseg": g}], [{"semseg": p}])
    assert ev.evaluate() == pytest.approx(together)
    ev.reset()
    with pytest.raises(ValueError, match="no labelled pixels"):
        ev.evaluate()


def test_bad_input_fails_clearly():
    ev = SemSegEvaluator(VOCAB)
    with pytest.raises(ValueError, match=r"class ids \[7\].*map_classes"):
        ev.process([{"semseg": np.array([[7, 1]])}], [{"semseg": np.array([[1, 1]])}])
    with pytest.raises(ValueError, match="resize the prediction"):
        ev.process([{"semseg": np.ones((2, 2))}], [{"semseg": np.ones((4, 4))}])
    with pytest.raises(ValueError, match="ignore_index 0 is also a class"):
        SemSegEvaluator({0: "unlabelled", 1: "wall"})
