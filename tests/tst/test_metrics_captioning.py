"""CaptionEvaluator: pycocoevalcap scores on hand-made cases, with and without Java, and bad captions."""

import json
import logging

import pytest
from pycocotools.coco import COCO

from tst.metrics.captioning import CaptionEvaluator, java_available, simple_tokenize

REFS = {
    1: ["A red sofa near the window.", "a red couch by the window"],
    2: ["two wooden chairs around a table"],
    3: ["un café près de la fenêtre"],  # non-ASCII stays as it is
}
MODES = [pytest.param(False, id="python-tokenizer"),
         pytest.param(True, id="java", marks=[pytest.mark.skipif(not java_available(), reason="no java"),
                                              pytest.mark.slow])]  # each Java start costs seconds


def _run(preds, use_java, refs=REFS):
    ev = CaptionEvaluator(use_java=use_java)
    ev.process([{"image_id": i, "captions": refs[i]} for i in preds],
               [{"caption": c} for c in preds.values()])
    return ev, ev.evaluate()


@pytest.mark.parametrize("use_java", MODES)
def test_perfect_and_empty_captions(use_java, caplog):
    _, m = _run({i: r[0] for i, r in REFS.items()}, use_java)
    for n in (1, 2, 3, 4):
        assert m[f"caption/BLEU-{n}"] == pytest.approx(1.0, abs=1e-6)
    assert m["caption/ROUGE-L"] == pytest.approx(1.0)
    assert 5.0 < m["caption/CIDEr"] < 10.0  # image 1's second reference differs from the prediction
    assert ("caption/METEOR" in m) == use_java
    if use_java:
        assert m["caption/METEOR"] == pytest.approx(1.0, abs=1e-3)
    with caplog.at_level(logging.WARNING):
        _, m = _run({i: "" for i in REFS}, use_java)
    assert "3 of 3 predicted captions are empty" in caplog.text
    assert all(v < 1e-6 for v in m.values()), m


@pytest.mark.parametrize("use_java", MODES)
def test_hand_computed_bleu1(use_java):
    _, m = _run({1: "a red chair"}, use_java, refs={1: ["a red sofa"]})
    assert m["caption/BLEU-1"] == pytest.approx(2.0 / 3.0, rel=1e-6)  # 2 of 3 unigrams, no brevity penalty
    assert m["caption/ROUGE-L"] < 1.0


def test_cider_is_10_when_every_prediction_equals_its_only_reference():
    single = {i: [r[0]] for i, r in REFS.items()}  # distinct images: tf-idf cosine 1 for n = 1..4, x10
    _, m = _run({i: r[0] for i, r in single.items()}, use_java=False, refs=single)
    assert m["caption/CIDEr"] == pytest.approx(10.0, rel=1e-6)


def test_missing_java_is_reported(caplog):
    with caplog.at_level(logging.WARNING):
        _, m = _run({1: "a red sofa"}, use_java=False)
    assert "caption/METEOR is skipped" in caplog.text and "caption/METEOR" not in m
    assert set(m) == {"caption/BLEU-1", "caption/BLEU-2", "caption/BLEU-3", "caption/BLEU-4",
                      "caption/ROUGE-L", "caption/CIDEr"}


def test_java_detection(monkeypatch, caplog):
    import tst.metrics.captioning as cap

    monkeypatch.setattr(cap.shutil, "which", lambda name: None)  # a machine without a JRE
    ev = CaptionEvaluator()
    assert ev.use_java is False
    ev.process([{"image_id": 1, "captions": ["a red sofa"]}], [{"caption": "a red sofa"}])
    with caplog.at_level(logging.WARNING):
        m = ev.evaluate()
    assert "no `java` on PATH, so caption/METEOR is skipped" in caplog.text and "caption/METEOR" not in m
    with pytest.raises(RuntimeError, match="no `java` on PATH"):
        CaptionEvaluator(use_java=True)


def test_simple_tokenizer_drops_punctuation_keeps_letters():
    assert simple_tokenize("A Café, near the  window!") == "a café near the window"
    assert simple_tokenize("the cat's bowl.") == "the cat's bowl"


def test_results_round_trip_through_pycocotools(tmp_path):
    preds = {1: "a red sofa\nby the window", 2: "chairs ||| table", 3: "un café"}
    ev = CaptionEvaluator(use_java=False)
    ev.process([{"image_id": i, "captions": REFS[i]} for i in preds], [{"caption": c} for c in preds.values()])
    path = ev.save_results(tmp_path / "captions_results.json")
    gt = COCO()
    gt.dataset = {"images": [{"id": i} for i in REFS],
                  "annotations": [{"id": 10 * i + j, "image_id": i, "caption": c}
                                  for i, refs in REFS.items() for j, c in enumerate(refs)]}
    gt.createIndex()
    res = gt.loadRes(str(path))
    got = {a["image_id"]: a["caption"] for a in res.dataset["annotations"]}
    # newlines and the METEOR separator are cleaned; everything else (non-ASCII too) comes back unchanged
    assert got == {1: "a red sofa by the window", 2: "chairs table", 3: "un café"}
    assert json.loads(path.read_text(encoding="utf-8")) == ev.results()


def test_images_without_references_are_left_out_and_reported(caplog):
    ev = CaptionEvaluator(use_java=False)
    ev.process([{"image_id": 4, "captions": ["", "   "]}, {"image_id": 5, "captions": ["a chair"]}],
               [{"caption": "a table"}, {"caption": "a chair"}])
    with caplog.at_level(logging.WARNING):
        m = ev.evaluate()
    assert "1 images have no non-empty reference caption" in caplog.text and "[4]" in caplog.text
    assert m["caption/BLEU-1"] == pytest.approx(1.0)  # only image 5 is scored
    ev.reset()
    ev.process([{"image_id": 4, "captions": [""]}], [{"caption": "a table"}])
    with pytest.raises(ValueError, match="no image with a reference caption"):
        ev.evaluate()


def test_bad_captions_fail_clearly():
    ev = CaptionEvaluator(use_java=False)
    with pytest.raises(TypeError, match="caption must be a string"):
        ev.process([{"image_id": 4, "captions": ["a chair"]}], [{"caption": None}])
    with pytest.raises(ValueError, match="no image with a reference caption"):
        CaptionEvaluator(use_java=False).evaluate()


@pytest.mark.slow
@pytest.mark.skipif(not java_available(), reason="the reference pipeline needs java")
def test_scores_equal_the_reference_cocoevalcap_pipeline_on_the_saved_results(tmp_path, monkeypatch):
    import pycocoevalcap.eval as reference

    class NoSpice:  # SPICE needs Stanford models fetched at run time; it is not one of our keys
        def compute_score(self, gts, res):
            return 0.0, [0.0] * len(gts)

        def method(self):
            return "SPICE"

    monkeypatch.setattr(reference, "Spice", NoSpice)
    preds = {1: "a red sofa by the window", 2: "two chairs and a table", 3: "un café"}
    ev = CaptionEvaluator(use_java=True)
    ev.process([{"image_id": i, "captions": REFS[i]} for i in preds], [{"caption": c} for c in preds.values()])
    ours = ev.evaluate()
    gt = COCO()
    gt.dataset = {"images": [{"id": i} for i in REFS],
                  "annotations": [{"id": 10 * i + j, "image_id": i, "caption": c}
                                  for i, refs in REFS.items() for j, c in enumerate(refs)]}
    gt.createIndex()
    coco_eval = reference.COCOEvalCap(gt, gt.loadRes(str(ev.save_results(tmp_path / "captions_results.json"))))
    coco_eval.evaluate()
    names = {"BLEU-1": "Bleu_1", "BLEU-2": "Bleu_2", "BLEU-3": "Bleu_3", "BLEU-4": "Bleu_4", "METEOR": "METEOR",
             "ROUGE-L": "ROUGE_L", "CIDEr": "CIDEr"}
    for ours_key, ref_key in names.items():
        assert ours[f"caption/{ours_key}"] == pytest.approx(coco_eval.eval[ref_key], abs=1e-9), ours_key
