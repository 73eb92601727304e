"""head.pt round trip: a rebuilt model predicts exactly what the run wrote; a wrong patch size is refused."""

import json

import cv2
import numpy as np
import pytest
import torch

from tests.transfer.synthetic import tiny_encoder, write_split
from tests.transfer.test_run import _cfg
from tst.checkpoint import CheckpointError
from tst.dataset import ShardDataset, collate
from tst.transfer.head_checkpoint import load_head
from tst.transfer.run import run, split_indices


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("external") / "split", n=8)


@pytest.mark.parametrize("task", ["semseg", "caption"])
def test_rebuilt_model_reproduces_the_run_predictions(task, split, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(task, split, out, ["task.head=uper", "task.model_kwargs.channels=16"] if task == "semseg" else [])
    run(cfg)
    t, model, state = load_head(out)
    assert state["head_config"]["task"] == task and not model.training
    ds = ShardDataset(split, t.modalities)
    _, val = split_indices(cfg, len(ds))
    batch = collate([ds[i] for i in val])
    outs = t.predict(model, batch)
    if task == "semseg":
        for key, o in zip(batch["__key__"], outs):
            saved = cv2.imread(str(out / "predictions" / f"{key}.semseg.png"), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(saved, o["semseg"].numpy())
    else:
        saved = json.loads((out / "predictions" / "captions_results.json").read_text())
        assert [s["caption"] for s in saved] == [o["caption"] for o in outs]


def test_encoder_of_another_patch_size_is_refused(split, tmp_path):
    out = tmp_path / "run"
    run(_cfg("semseg", split, out))
    with pytest.raises(ValueError, match="encoder patch size 16 does not match the patch size 8 that the head in"):
        load_head(out, encoder=tiny_encoder(patch_size=16))
    torch.save({"format_version": torch.load(out / "head.pt", weights_only=False)["format_version"]},
               tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a head written by `tst transfer`"):
        load_head(tmp_path / "other.pt")
