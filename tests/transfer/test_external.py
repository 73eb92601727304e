"""External sets in standard layouts (COCO folders, ADE20K-style folders) read like shards and trained on."""

import json

import cv2
import numpy as np
import pytest
import torch

from tests.transfer.synthetic import VOCAB, make_batch
from tests.transfer.test_run import _cfg
from tst.transfer.external import CocoSet, FolderSegSet, open_external, read_vocabulary
from tst.transfer.run import run


def _write_coco(root, n=8, size=32):
    """make_batch at 32 px as a COCO folder: images/, instances_train.json, captions_train.json."""
    b = make_batch(n, size=size)
    (root / "images").mkdir(parents=True)
    images, anns, caps = [], [], []
    for i in range(n):
        name = f"{i:04d}.png"
        cv2.imwrite(str(root / "images" / name), (b["rgb"][i].permute(1, 2, 0).numpy()[:, :, ::-1] * 255).astype(np.uint8))
        images.append({"id": 100 + i, "file_name": name, "width": size, "height": size})
        for k in torch.unique(b["instance"][i]).tolist():
            if k == 0:
                continue
            ys, xs = torch.nonzero(b["instance"][i] == k, as_tuple=True)
            x0, y0 = xs.min().item(), ys.min().item()
            cls = int(b["semseg"][i][ys[0], xs[0]])
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": cls, "iscrowd": 0,
                         "bbox": [x0, y0, xs.max().item() + 1 - x0, ys.max().item() + 1 - y0]})
        caps += [{"id": len(caps) + 1, "image_id": 100 + i, "caption": c} for c in b["caption"][i]["captions"]]
    anns.append({"id": 999, "image_id": 100, "category_id": 2, "iscrowd": 1, "bbox": [0, 0, 5, 5]})
    cats = [{"id": 2, "name": "chair"}, {"id": 3, "name": "table"}]
    (root / "instances_train.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    (root / "captions_train.json").write_text(json.dumps({"images": images, "annotations": caps}))
    return root, b


def _write_folders(root, n=8, size=64):
    b = make_batch(n, size=size)
    for d in ("images", "annotations"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"img{i}.jpg"),
                    (b["rgb"][i].permute(1, 2, 0).numpy()[:, :, ::-1] * 255).astype(np.uint8),
                    [cv2.IMWRITE_JPEG_QUALITY, 98])
        cv2.imwrite(str(root / "annotations" / f"img{i}.png"), b["semseg"][i].numpy().astype(np.uint8))
    (root / "classes.txt").write_text("\n".join(VOCAB.values()) + "\n")
    return root, b


def test_coco_set_scales_boxes_skips_crowds_and_reads_captions(tmp_path):
    root, b = _write_coco(tmp_path / "coco")
    ds = CocoSet(root / "images", 64, root / "instances_train.json", root / "captions_train.json")
    s = ds[0]
    assert s["image_id"] == 100 and s["rgb"].shape == (3, 64, 64)
    ys, xs = torch.nonzero(b["instance"][0] == 1, as_tuple=True)
    want = [[2 * xs.min().item(), 2 * ys.min().item(), 2 * (xs.max().item() + 1), 2 * (ys.max().item() + 1)]]
    assert s["boxes"].tolist() == want  # 32 -> 64 px doubles every coordinate; the crowd box is skipped
    assert s["labels"].tolist() == [2]
    assert s["caption"]["captions"] == b["caption"][0]["captions"]
    dataset, vocab = open_external(root, 64, ("rgb",))
    assert isinstance(dataset, CocoSet) and vocab == {0: "unlabelled", 2: "chair", 3: "table"}


def test_folder_set_and_vocabulary(tmp_path):
    root, b = _write_folders(tmp_path / "ade")
    dataset, vocab = open_external(root, 64, ("rgb", "semseg"))
    assert isinstance(dataset, FolderSegSet) and vocab == {0: "unlabelled", **VOCAB}
    assert torch.equal(dataset[3]["semseg"], b["semseg"][3])  # labels are lossless PNGs, same size
    assert read_vocabulary(root) == vocab
    (root / "annotations" / "img5.png").unlink()
    with pytest.raises(FileNotFoundError, match="img5.jpg has no label map"):
        FolderSegSet(root, 64)
    with pytest.raises(FileNotFoundError, match="not a split directory"):
        open_external(tmp_path, 64, ("rgb",))


@pytest.mark.parametrize("task", ["det", "caption"])
def test_transfer_trains_on_a_coco_folder(task, tmp_path):
    root, _ = _write_coco(tmp_path / "coco")
    out = tmp_path / "run"
    metrics = run(_cfg(task, root, out, ["task.classes=null"] if task == "det" else []))
    assert ("det/AP" if task == "det" else "caption/BLEU-4") in metrics
    if task == "det":
        results = json.loads((out / "predictions" / "det_results.json").read_text())
        assert {r["category_id"] for r in results} <= {2, 3}
        ids = json.loads((out / "predictions" / "image_ids.json").read_text())
        assert {r["image_id"] for r in results} <= {int(i) for i in ids} <= set(range(100, 108))  # COCO ids
        # boxes are in the original 32 px images, not the 64 px model input
        assert all(0 <= r["bbox"][0] <= 32 and r["bbox"][0] + r["bbox"][2] <= 32.01 for r in results)


def test_transfer_trains_on_image_label_folders(tmp_path):
    root, _ = _write_folders(tmp_path / "ade")
    metrics = run(_cfg("semseg", root, tmp_path / "run"))
    assert metrics["semseg/mIoU"] > 0 and metrics["transfer/unmapped_classes"] == 0
