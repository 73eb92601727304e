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


def test_beam_predictions_carry_their_hypotheses_and_the_space_labels_rerank_them():
    torch.manual_seed(0)
    batch = make_batch(3)
    task = CaptionTask(train_tokenizer(batch["caption"]), max_len=12, decoding="beam", beam_size=3,
                       model_kwargs=dict(d_model=32), use_java=False)
    outs = task.predict(task.build_model(tiny_encoder()).eval(), batch)
    assert all(o["caption"] == o["candidates"][0][0] for o in outs)
    names, labels = {1: "chair", 2: "lamp"}, np.ones((8, 8), dtype=np.int64)  # a chair fills the view
    out = {"caption": "a lamp.", "candidates": [("a lamp.", -0.1), ("a chair.", -0.3)]}
    assert task.with_space_labels(out, labels, names)["caption"] == "a chair."
    assert task.with_space_labels({"caption": "a lamp."}, labels, names) == {"caption": "a lamp."}  # greedy: one
