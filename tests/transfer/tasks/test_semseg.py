"""SemSegTask: heads overfit a tiny set (loss falls, mIoU far above chance); external vocabularies map by name."""

import numpy as np
import pytest
import torch

from tests.transfer.synthetic import VOCAB, evaluate, make_batch, overfit, tiny_encoder
from tst.transfer.class_map import map_classes
from tst.transfer.tasks.semseg import SemSegTask


@pytest.mark.parametrize("head,steps,lr,kwargs", [("linear", 40, 3e-3, {}), ("uper", 30, 2e-3, {"channels": 16})])
def test_head_overfits_a_tiny_set(head, steps, lr, kwargs):
    torch.manual_seed(0)
    batch = make_batch(4)
    task = SemSegTask(VOCAB, head=head, head_kwargs=kwargs)
    model = task.build_model(tiny_encoder())
    before = evaluate(task, model, batch)["semseg/mIoU"]
    losses = overfit(task, model, batch, steps, lr)
    m = evaluate(task, model, batch)
    assert losses[-1] < 0.5 * losses[0]
    # predicting the majority class everywhere gives ~27 mIoU (floor ~80, chair 0, table 0)
    assert m["semseg/mIoU"] > 75.0 and m["semseg/mIoU"] > before + 30.0, (before, m)
    assert m["semseg/IoU/chair"] > 50.0 and m["semseg/IoU/table"] > 50.0


def test_external_vocabulary_is_mapped_and_unmapped_classes_are_ignored():
    batch = make_batch(2)
    external = {1: "Floor", 2: "armchair", 3: "lamp"}  # its ids: 3 = lamp has no test-space class
    ext = dict(batch)
    ext["semseg"] = batch["semseg"].clone()  # in the external set, "table" pixels are lamps
    lut, unmapped = map_classes(external, VOCAB, synonyms={"armchair": "chair"})
    assert unmapped == ["lamp"]
    task = SemSegTask(VOCAB, head="linear", label_lut=lut)
    labels = task.labels(ext)
    assert torch.equal(labels == 2, batch["semseg"] == 2)  # armchair -> chair (id 2)
    assert (labels[batch["semseg"] == 3] == 0).all()  # lamp -> unlabelled, ignored by loss and metric
    model = task.build_model(tiny_encoder())
    gt = task.ground_truth(ext, [0, 1])
    ev = task.evaluator()
    ev.process(gt, task.predict(model.eval(), ext))
    assert "semseg/IoU/table" not in ev.evaluate()  # table never appears once lamps are ignored


def test_batch_without_labelled_pixels_gives_zero_loss_not_nan():
    batch = make_batch(2)
    batch["semseg"] = torch.zeros_like(batch["semseg"])
    task = SemSegTask(VOCAB, head="linear")
    loss = task.loss(task.build_model(tiny_encoder()), batch)["loss"]
    assert loss.item() == 0.0
    loss.backward()  # still a graph, so the loop needs no special case


def test_predictions_are_vocabulary_ids():
    task = SemSegTask({0: "unlabelled", 4: "wall", 9: "door"}, head="linear")
    model = task.build_model(tiny_encoder()).eval()
    (out,) = task.predict(model, {"rgb": torch.rand(1, 3, 64, 64)})
    assert out["semseg"].shape == (64, 64)
    assert set(np.unique(out["semseg"].numpy())) <= {4, 9}
    with pytest.raises(ValueError, match="no class besides the ignore id"):
        SemSegTask({0: "unlabelled"})
