"""ViTDet-style detector: instance maps -> exact boxes, torchvision losses, gradients, patch-size check."""

import pytest
import torch

from tests.transfer.synthetic import tiny_encoder
from tst.transfer.det_model import boxes_from_instances, build_detector

SMALL = dict(out_channels=32, representation_size=64, rpn_batch_size_per_image=32, box_batch_size_per_image=32,
             rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=50, rpn_pre_nms_top_n_test=100,
             rpn_post_nms_top_n_test=20)


def test_boxes_from_instances_are_tight_pixel_edge_boxes():
    inst = torch.zeros(10, 12, dtype=torch.long)
    sem = torch.ones(10, 12, dtype=torch.long)
    inst[2:5, 3:9] = 1
    sem[2:5, 3:9] = 4
    sem[2, 3] = 2  # one stray pixel: the majority class wins
    inst[7:10, 0:2] = 2
    sem[7:10, 0:2] = 0  # instance of unlabelled pixels only: dropped
    inst[0, 11] = 3
    sem[0, 11] = 5  # a single pixel instance
    boxes, labels = boxes_from_instances(inst, sem)
    assert boxes.tolist() == [[3.0, 2.0, 9.0, 5.0], [11.0, 0.0, 12.0, 1.0]]
    assert labels.tolist() == [4, 5]
    boxes, labels = boxes_from_instances(inst, sem, min_pixels=2)
    assert labels.tolist() == [4]
    empty_boxes, empty_labels = boxes_from_instances(torch.zeros(4, 4, dtype=torch.long), sem[:4, :4])
    assert empty_boxes.shape == (0, 4) and empty_labels.shape == (0,)


def test_losses_gradients_and_predictions():
    det = build_detector(tiny_encoder(), num_classes=2, image_size=64, **SMALL)
    assert [round(s) for s in det.backbone.strides()] == [2, 4, 8, 16, 32]  # p/4 .. 4p for p = 8
    det.train()
    images = list(torch.rand(2, 3, 64, 64))
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 28.0], [36.0, 30.0, 60.0, 60.0]]),
                "labels": torch.tensor([1, 2])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]  # no annotations
    losses = det(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    encoder = {id(p) for p in det.backbone.encoder.parameters()}
    for name, p in det.named_parameters():
        if id(p) not in encoder:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    for name, p in det.backbone.encoder.blocks.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    det.eval()
    with torch.no_grad():
        out = det(images)
    assert len(out) == 2 and set(out[0]) == {"boxes", "scores", "labels"}
    assert out[0]["boxes"].shape[1] == 4 and (out[0]["boxes"] <= 64).all()
    assert ((out[0]["labels"] >= 1) & (out[0]["labels"] <= 2)).all()


def test_patch_size_mismatch_and_bad_class_count():
    with pytest.raises(ValueError, match="encoder patch size 16 does not match the patch size 8 that this detector"):
        build_detector(tiny_encoder(patch_size=16), 2, 64, patch_size=8)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        build_detector(tiny_encoder(), 0, 64)
