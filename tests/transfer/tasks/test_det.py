"""DetTask: boxes from instance maps, vocabulary mapping, and a detector that overfits a tiny set."""

import numpy as np
import pytest
import torch

from tests.transfer.synthetic import evaluate, make_batch, overfit, tiny_encoder
from tst.transfer.class_map import map_classes
from tst.transfer.tasks.det import DetTask

SMALL = dict(out_channels=32, representation_size=128, rpn_batch_size_per_image=64, box_batch_size_per_image=64,
             rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=200,
             rpn_post_nms_top_n_test=50)
THINGS = {2: "chair", 3: "table"}  # the floor is stuff, not an object class


def test_targets_come_from_instances_and_unmapped_classes_are_dropped():
    batch = make_batch(3)
    task = DetTask(THINGS, image_size=64)
    per_image = task.boxes(batch)
    assert [c.tolist() for _, c in per_image] == [[2], [3], [2, 3]]
    (b0, _) = per_image[0]
    ys, xs = torch.nonzero(batch["instance"][0] == 1, as_tuple=True)
    assert b0.tolist() == [[xs.min().item(), ys.min().item(), xs.max().item() + 1.0, ys.max().item() + 1.0]]
    lut, unmapped = map_classes({1: "floor", 2: "chair", 3: "bookshelf"}, {0: "unlabelled", **THINGS})
    assert unmapped == ["floor", "bookshelf"]  # the floor is not an object class here either
    mapped = DetTask(THINGS, image_size=64, label_lut=lut).boxes(batch)
    assert [c.tolist() for _, c in mapped] == [[2], [], [2]]  # image 1 is left without any box


def test_loss_needs_train_mode_and_handles_images_without_boxes():
    batch = make_batch(2)
    batch["instance"][1] = 0  # second image: no annotations at all
    task = DetTask(THINGS, image_size=64, model_kwargs=SMALL)
    model = task.build_model(tiny_encoder())
    with pytest.raises(RuntimeError, match="model.train"):
        task.loss(model.eval(), batch)
    out = task.loss(model.train(), batch)
    assert torch.isfinite(out["loss"]) and "loss_objectness" in out
    with pytest.raises(RuntimeError, match="model.eval"):
        task.predict(model, batch)


def test_detector_overfits_a_tiny_set():
    torch.manual_seed(0)
    batch = make_batch(4)
    task = DetTask(THINGS, image_size=64, model_kwargs=SMALL)
    model = task.build_model(tiny_encoder())
    losses = overfit(task, model, batch, steps=40, lr=2e-3)
    m = evaluate(task, model, batch)
    assert losses[-1] < 0.4 * losses[0], losses[::10]
    assert m["det/AP50"] > 60.0 and m["det/AP"] > 30.0, m  # an untrained detector scores ~0
    (out,) = task.predict(model, {"rgb": batch["rgb"][:1]})
    assert set(out["labels"].tolist()) <= set(THINGS)  # vocabulary ids, not contiguous labels


def test_given_boxes_are_used_and_mapped_back_to_the_original_image_size():
    batch = {"rgb": torch.rand(1, 3, 64, 64), "boxes": [np.array([[8.0, 16.0, 40.0, 48.0], [0, 0, 4, 4]])],
             "labels": [np.array([2, 1])], "orig_size": [np.array([32, 128])]}  # h 32, w 128 resized to 64x64
    task = DetTask(THINGS, image_size=64)
    (gt,) = task.ground_truth(batch, [7])
    assert gt["image_id"] == 7 and gt["labels"].tolist() == [2]  # class 1 (floor) is not a detection class
    assert gt["boxes"].tolist() == [[16.0, 8.0, 80.0, 24.0]]  # x * 128/64, y * 32/64
