"""CaptionTask: tokenizer from training captions, a decoder that overfits, bad captions handled."""

import numpy as np
import pytest
import torch

from tests.transfer.synthetic import evaluate, make_batch, overfit, tiny_encoder
from tst.transfer.tasks.caption import CaptionTask, caption_texts, train_tokenizer
from tst.transfer.tokenizer import CaptionTokenizer


def test_caption_members_in_every_form():
    assert caption_texts({"captions": ["a chair", " ", ""]}) == ["a chair"]
    assert caption_texts(["a", "b"]) == ["a", "b"] and caption_texts("a chair") == ["a chair"]
    assert caption_texts(None) == []
    with pytest.raises(ValueError, match="no 'captions' field"):
        caption_texts({"text": "a chair"})


@pytest.mark.parametrize("decoding", ["greedy", "beam"])
def test_decoder_overfits_a_tiny_set(decoding, tmp_path):
    torch.manual_seed(0)
    batch = make_batch(4)
    task = CaptionTask(train_tokenizer(batch["caption"]), max_len=16, decoding=decoding, beam_size=2,
                       model_kwargs=dict(d_model=64), use_java=False)
    model = task.build_model(tiny_encoder())
    losses = overfit(task, model, batch, steps=80, lr=1e-3)
    m = evaluate(task, model, batch)
    assert losses[-1] < 0.3 * losses[0], losses[::20]
    assert m["caption/BLEU-4"] > 0.6 and m["caption/CIDEr"] > 3.0, m  # untrained: ~0
    (path,) = task.save_artifacts(tmp_path)
    assert CaptionTokenizer.load(path).vocab_size == task.tokenizer.vocab_size


def test_samples_without_captions_and_non_ascii_captions():
    batch = make_batch(3)
    batch["caption"] = [{"captions": ["", "  "]}, {"captions": ["un café près de la fenêtre"]}, None]
    task = CaptionTask(train_tokenizer(batch["caption"]), max_len=12, model_kwargs=dict(d_model=32),
                       use_java=False)
    assert task.tokenizer.unk_id not in task.tokenizer.encode("un café près de la fenêtre")
    model = task.build_model(tiny_encoder())
    loss = task.loss(model, batch)["loss"]  # only sample 1 has a caption
    assert torch.isfinite(loss) and loss.item() > 0
    batch["caption"] = [None, [], {"captions": [""]}]
    assert task.loss(model, batch)["loss"].item() == 0.0
    with pytest.raises(KeyError, match="unknown decoding 'sample'"):
        CaptionTask(task.tokenizer, decoding="sample")


def test_beam_predictions_carry_their_hypotheses_best_first():
    torch.manual_seed(0)
    batch = make_batch(3)
    task = CaptionTask(train_tokenizer(batch["caption"]), max_len=12, decoding="beam", beam_size=3,
                       model_kwargs=dict(d_model=32), use_java=False)
    outs = task.predict(task.build_model(tiny_encoder()).eval(), batch)
    assert all(o["caption"] == o["candidates"][0][0] for o in outs)
    assert all([s for _, s in o["candidates"]] == sorted((s for _, s in o["candidates"]), reverse=True) for o in outs)


@pytest.mark.parametrize("decoding", ["greedy", "beam"])
def test_captions_decoded_in_the_space_leave_out_the_classes_its_labels_do_not_show(decoding):
    torch.manual_seed(0)
    batch = make_batch(3)
    task = CaptionTask(train_tokenizer(batch["caption"]), max_len=8, decoding=decoding, beam_size=3,
                       model_kwargs=dict(d_model=32), use_java=False)
    model = task.build_model(tiny_encoder()).eval()
    with torch.no_grad():  # an untrained head that names a chair in every view, by a margin under MAP_PENALTY
        model.out.bias[task.tokenizer.tok.token_to_id("chair")] += 2.0
    names = {1: "wall", 2: "chair", 3: "table"}
    plain = task.predict(model, batch)
    assert all("chair" in o["caption"].split() for o in plain)
    walls = [np.ones((8, 8), dtype=np.int64)] * 3  # the map sees walls only
    steered = task.in_space(model, batch["rgb"], 64, plain, walls, names)
    assert not any("chair" in c.split() or "table" in c.split() for o in steered for c, _ in o["candidates"])
    assert all(o["caption"] in [c for c, _ in o["candidates"]] for o in steered)
    assert decoding == "beam" or all(len(o["candidates"]) == 1 for o in steered)  # greedy: a beam of one
    chairs = [np.full((8, 8), 2, dtype=np.int64)] * 3  # it sees the chair: the head may say it
    small = torch.nn.functional.interpolate(batch["rgb"], size=(32, 32))  # views of another size are resized
    kept = task.in_space(model, small, 64, plain, chairs, names)
    assert all("chair" in o["caption"].split() and "table" not in o["caption"].split() for o in kept)
