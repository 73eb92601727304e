"""The default logger path: wandb offline, scalars, summary, config and the stages' pictures as images,
read back from the offline run files."""

import json

import numpy as np
import pytest

from tests.tst.wandb_offline import offline_run
from tst.png import encode_png
from tst.runlog import RunLogger


def test_offline_wandb_keeps_scalars_summary_config_and_images(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    pngs = []
    for v in (50, 100, 200):  # distinct contents: wandb stores identical images once
        pngs.append(tmp_path / f"pic{v}.png")
        pngs[-1].write_bytes(encode_png(np.full((8, 12, 3), v, np.uint8)))
    with RunLogger(tmp_path, kind="wandb", name="t", config={"lr": 0.5}) as lg:  # mode defaults to offline
        lg.log({"train/loss": 1.5}, step=1)
        lg.log({"train/loss": 0.75}, step=2)
        lg.log_images({"pretrain/preview": pngs[0], "deploy/overlays": pngs[1:]}, step=2)
        lg.summary({"pretrain/loss": 0.75})
        with pytest.raises(FileNotFoundError, match="nope.png"):
            lg.log_images({"x": tmp_path / "nope.png"})
    run = offline_run(tmp_path)
    losses = [(h["_step"], h["train/loss"]) for h in run["history"] if "train/loss" in h]
    assert losses == [(1, 1.5), (2, 0.75)]
    step2 = next(h for h in run["history"] if h["_step"] == 2 and "pretrain/preview/_type" in h)
    assert (step2["pretrain/preview/_type"], step2["pretrain/preview/width"]) == ("image-file", 12)
    assert step2["deploy/overlays/count"] == 2 and step2["deploy/overlays/captions"] == ["pic100", "pic200"]
    assert len(run["images"]) == 3 and all(p.read_bytes()[:4] == b"\x89PNG" for p in run["images"])
    assert run["summary"]["pretrain/loss"] == 0.75
    assert run["config"]["lr"] == 0.5
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["train/loss"]) for r in rows] == [(1, 1.5), (2, 0.75)]  # scalars only in the JSONL


def test_without_wandb_images_are_not_logged_anywhere(tmp_path):
    with RunLogger(tmp_path, kind="none") as lg:
        lg.log_images({"x": tmp_path / "missing.png"})  # nothing to mirror to: not even checked
    assert (tmp_path / "log.jsonl").read_text() == ""
    assert not (tmp_path / "wandb").exists()
