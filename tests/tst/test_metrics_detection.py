"""DetectionEvaluator: pycocotools numbers on hand-made cases, results json round trip, bad files."""

import json

import pytest
import torch

from tst.metrics.detection import DetectionEvaluator, load_coco_json, to_coco_results


def _gt():
    return {
        "images": [{"id": 1, "width": 64, "height": 64}, {"id": 2, "width": 64, "height": 64},
                   {"id": 3, "width": 64, "height": 64}],  # image 3 has no annotations
        "categories": [{"id": 5, "name": "chair"}, {"id": 9, "name": "table"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 5, "bbox": [4.0, 4.0, 20.0, 10.0]},
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [30.0, 30.0, 30.0, 30.0]},
            {"id": 3, "image_id": 2, "category_id": 5, "bbox": [10.0, 12.0, 40.0, 40.0]},
        ],
    }


def _xyxy(b):
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def _perfect_outputs(gt):
    outs = {im["id"]: {"boxes": [], "scores": [], "labels": []} for im in gt["images"]}
    for a in gt["annotations"]:
        o = outs[a["image_id"]]
        o["boxes"].append(_xyxy(a["bbox"]))
        o["scores"].append(0.9)
        o["labels"].append(a["category_id"])
    return [{"image_id": i} for i in outs], [
        {"boxes": torch.tensor(o["boxes"]).reshape(-1, 4), "scores": torch.tensor(o["scores"]),
         "labels": torch.tensor(o["labels"])} for o in outs.values()]


def test_perfect_predictions_give_ap_100_and_undefined_sizes_are_left_out():
    ev = DetectionEvaluator(_gt())
    ev.process(*_perfect_outputs(_gt()))
    m = ev.evaluate()
    for k in ("det/AP", "det/AP50", "det/AP75", "det/APs", "det/APm"):
        assert m[k] == pytest.approx(100.0), k
    assert "det/APl" not in m  # no object larger than 96^2 px: COCOeval says -1, we omit it


def test_empty_predictions_give_zero():
    ev = DetectionEvaluator(_gt())
    ev.process([{"image_id": 1}, {"image_id": 2}],
               [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)}] * 2)
    m = ev.evaluate()
    assert m == {"det/AP": 0.0, "det/AP50": 0.0, "det/AP75": 0.0, "det/APs": 0.0, "det/APm": 0.0}


def test_half_shifted_box_counts_at_ap50_not_at_ap75():
    # one GT box 20x20; prediction shifted by 5 px -> IoU = 15*20 / (2*400 - 300) = 0.6
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 20.0, 20.0]}]}
    ev = DetectionEvaluator(gt)
    ev.process([{"image_id": 1}], [{"boxes": [[15.0, 10.0, 35.0, 30.0]], "scores": [1.0], "labels": [1]}])
    m = ev.evaluate()
    assert m["det/AP50"] == pytest.approx(100.0) and m["det/AP75"] == 0.0
    # IoU 0.6 passes thresholds 0.50, 0.55, 0.60 of the ten in AP@[.5:.95]
    assert m["det/AP"] == pytest.approx(30.0)


def test_results_round_trip_through_pycocotools(tmp_path):
    ev = DetectionEvaluator(_gt())
    ins, outs = _perfect_outputs(_gt())
    outs[0]["scores"] = torch.tensor([0.25, 0.75])
    ev.process(ins, outs)
    path = ev.save_results(tmp_path / "det_results.json")
    loaded = ev.coco_gt.loadRes(str(path))
    anns = sorted(loaded.dataset["annotations"], key=lambda a: (a["image_id"], a["category_id"]))
    want = sorted(_gt()["annotations"], key=lambda a: (a["image_id"], a["category_id"]))
    assert [a["bbox"] for a in anns] == [a["bbox"] for a in want]  # exact: same floats back
    assert [a["score"] for a in anns] == pytest.approx([0.25, 0.75, 0.9])
    assert json.loads(path.read_text()) == ev.results  # loadRes did not mutate our copy


def test_to_coco_results_converts_xyxy_to_xywh():
    r = to_coco_results(7, [[1.0, 2.0, 11.0, 22.0]], [0.5], [3])
    assert r == [{"image_id": 7, "category_id": 3, "bbox": [1.0, 2.0, 10.0, 20.0], "score": 0.5}]


def test_bad_annotation_files(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.json is empty"):
        load_coco_json(empty)
    nofield = tmp_path / "nofield.json"
    nofield.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(ValueError, match="'annotations' is missing"):
        load_coco_json(nofield)
    bad = _gt()
    bad["annotations"][0]["category_id"] = 42
    with pytest.raises(ValueError, match=r"annotations\[0\]: category_id 42"):
        DetectionEvaluator(bad)
    no_boxes = dict(_gt(), annotations=[])
    ev = DetectionEvaluator(no_boxes)
    ev.process([{"image_id": 3}], [{"boxes": [[0, 0, 5, 5]], "scores": [1.0], "labels": [5]}])
    with pytest.raises(ValueError, match="no ground-truth boxes"):
        ev.evaluate()
    with pytest.raises(ValueError, match="image_id 99"):
        ev.process([{"image_id": 99}], [{"boxes": [], "scores": [], "labels": []}])


def test_images_without_annotations_only_add_false_positives():
    gt = _gt()
    ev = DetectionEvaluator(gt)
    ins, outs = _perfect_outputs(gt)
    ev.process(ins, outs)  # includes image 3 with no boxes and no predictions
    assert ev.evaluate()["det/AP"] == pytest.approx(100.0)
    ev.reset()
    outs[2] = {"boxes": [[0.0, 0.0, 20.0, 10.0]], "scores": [0.95], "labels": [5]}  # FP on image 3
    ev.process(ins, outs)
    assert ev.evaluate()["det/AP"] < 100.0


def test_ground_truth_collected_from_inputs_matches_the_coco_file():
    gt = _gt()
    ins, outs = _perfect_outputs(gt)
    outs[0]["scores"] = torch.tensor([0.3, 0.8])
    outs[1] = {"boxes": [[10.0, 12.0, 45.0, 52.0]], "scores": [0.6], "labels": [5]}  # a looser box
    ref = DetectionEvaluator(gt)
    ref.process(ins, outs)
    collected = DetectionEvaluator(categories={5: "chair", 9: "table"})
    gt_inputs = []
    for inp in ins:
        anns = [a for a in gt["annotations"] if a["image_id"] == inp["image_id"]]
        gt_inputs.append({"image_id": inp["image_id"], "boxes": [_xyxy(a["bbox"]) for a in anns],
                          "labels": [a["category_id"] for a in anns]})
    collected.process(gt_inputs, outs)
    m = collected.evaluate()
    assert m == ref.evaluate()
    assert 0.0 < m["det/AP"] < 100.0
    with pytest.raises(ValueError, match="processed twice"):
        collected.process(gt_inputs[:1], outs[:1])
