"""`tst transfer` end to end on a tiny real-format split: one loop for all three tasks, resume, class maps."""

import json

import pytest
from hydra import compose, initialize_config_dir

from tests.transfer.synthetic import write_split
from tst.cli import config_dir
from tst.transfer.run import run

TASK_OVERRIDES = {
    "semseg": ["task.head=linear", "steps=6", "lr=3e-3"],
    "det": ["task.classes=[chair,table]", "task.min_pixels=4", "steps=3", "task.model_kwargs.out_channels=32",
            "task.model_kwargs.representation_size=64", "task.model_kwargs.rpn_batch_size_per_image=32",
            "task.model_kwargs.box_batch_size_per_image=32"],
    "caption": ["steps=6", "task.decoding=greedy", "task.model_kwargs.d_model=32", "task.model_kwargs.layers=1",
                "task.model_kwargs.heads=2", "task.max_len=16", "task.use_java=false"],  # Java: tests/tst
    "depth": ["task.head=linear", "steps=6", "lr=3e-3"],
}


def _cfg(task, data, out, extra=()):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="transfer", overrides=[
            f"task={task}", f"data={data}", f"out={out}", "logger=none", "batch_size=4", "eval_batch_size=4",
            "warmup=1", "log_every=100", "val_fraction=0.25", *TASK_OVERRIDES[task], *extra])


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("external") / "split", n=8)


@pytest.mark.parametrize("task", ["semseg", "det", "caption", "depth"])
def test_one_loop_runs_every_task_and_writes_standard_outputs(task, split, tmp_path):
    out = tmp_path / "run"
    res = run(_cfg(task, split, out))
    metrics = json.loads((out / "metrics.json").read_text())
    key = {"semseg": "semseg/mIoU", "det": "det/AP", "caption": "caption/CIDEr", "depth": "depth/AbsRel"}[task]
    assert key in metrics and metrics["transfer/steps"] == res["transfer/steps"]
    assert metrics["transfer/train_samples_per_s"] > 0 and metrics["transfer/eval_images_per_s"] > 0
    assert (out / "head.pt").is_file() and (out / "class_map.json").is_file() and (out / "config.yaml").is_file()
    assert (out / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pred = out / "predictions"
    if task == "det":
        results = json.loads((pred / "det_results.json").read_text())
        assert all(set(r) == {"image_id", "category_id", "bbox", "score"} for r in results)
        assert {r["category_id"] for r in results} <= {2, 3}  # floor is not a detection class here
    elif task == "caption":
        assert len(json.loads((pred / "captions_results.json").read_text())) == 2  # 25% of 8 held out
        assert (out / "tokenizer.json").is_file()
    elif task == "depth":
        assert len(list(pred.glob("*.depth.png"))) == 2 and 0 <= metrics["depth/delta1"] <= 100
        assert metrics["depth/RMSE"] > 0 and metrics["depth/AbsRel"] > 0
    else:
        assert len(list(pred.glob("*.semseg.png"))) == 2


def test_resume_continues_and_mismatched_vocabulary_is_mapped(split, tmp_path, capsys):
    ext = write_split(tmp_path / "ext", n=8, classes={0: "unlabelled", 1: "Floor", 2: "armchair", 3: "lamp"})
    out = tmp_path / "run"
    extra = [f"vocab={split}", "+synonyms={armchair: chair}"]
    run(_cfg("semseg", ext, out, extra))
    cmap = json.loads((out / "class_map.json").read_text())
    assert cmap["unmapped"] == ["lamp"] and cmap["lut"] == [0, 1, 2, 0]
    first = json.loads((out / "metrics.json").read_text())
    assert first["transfer/unmapped_classes"] == 1 and "semseg/IoU/table" not in first
    capsys.readouterr()
    res = run(_cfg("semseg", ext, out, [*extra, "steps=8", "resume=true"]))
    assert res["transfer/steps"] == 8
    printed = capsys.readouterr().out
    assert "step      8" in printed and "step      1 " not in printed  # continued from step 6
    with pytest.raises(Exception, match="pass resume=true to continue it"):
        run(_cfg("semseg", ext, out, [*extra, "steps=8"]))


def test_bad_config_fails_early(split, tmp_path):
    with pytest.raises(ValueError, match="protocol='distill' is invalid"):
        run(_cfg("semseg", split, tmp_path / "r", ["protocol=distill"]))
    with pytest.raises(ValueError, match=r"task.classes names \['sofa'\]"):
        run(_cfg("det", split, tmp_path / "r2", ["task.classes=[sofa]"]))


def test_probe_from_an_encoder_export_leaves_the_encoder_untouched(split, tmp_path):
    import torch

    from tst.checkpoint import export_encoder, load_checkpoint, load_encoder
    from tst.models.vit import create_encoder

    torch.manual_seed(3)
    export = tmp_path / "export"
    export_encoder(export, create_encoder("tst_vit_test", modalities=["rgb"], img_size=64), model_name="tst_vit_test")
    out = tmp_path / "run"
    run(_cfg("semseg", split, out, [f"init={export}", "protocol=probe"]))
    state = load_checkpoint(out / "head.pt")
    assert state["encoder"]["init"] == str(export) and state["protocol"] == "probe"
    assert state["head_config"]["head"] == "linear"
    enc, _ = load_encoder(export)
    for k, v in enc.state_dict().items():
        assert torch.equal(state["model"][f"encoder.{k}"], v), k
    head_w = state["model"]["head.classifier.weight"]
    assert head_w.shape == (3, 64, 1, 1)  # 3 classes on tst_vit_test's 64 channels


def test_init_from_a_plain_state_dict_file(split, tmp_path, capsys):
    import torch

    from tst.checkpoint import load_checkpoint
    from tst.models.vit import create_encoder

    torch.manual_seed(5)
    enc = create_encoder("tst_vit_test", modalities=["rgb"], img_size=64)
    torch.save({"model": enc.state_dict()}, tmp_path / "weights.pth")
    out = tmp_path / "run"
    run(_cfg("semseg", split, out, [f"init={tmp_path / 'weights.pth'}", "protocol=probe"]))
    assert "missing [], unexpected []" in capsys.readouterr().out
    state = load_checkpoint(out / "head.pt")
    assert torch.equal(state["model"]["encoder.blocks.0.attn.qkv.weight"], enc.state_dict()["blocks.0.attn.qkv.weight"])
