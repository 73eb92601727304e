"""`tst deploy` end to end: heads trained by `tst transfer` on other rooms, scored on the box room's eval split.

``deploy_space`` builds the real inputs once per session (cached on disk under pytest's base temp,
so the perception and agent-demo tests reuse them): an eval split of the box room with caption
members, an external split of two other rooms, and semseg / det / caption heads trained on it for a
few steps with the eval split's vocabulary.
"""

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.collect import compose_collect
from tst.cli import config_dir
from tst.collect.run import run as collect
from tst.dataset import ShardDataset, collate
from tst.metrics.semseg import SemSegEvaluator
from tst.transfer.deploy import run
from tst.transfer.head_checkpoint import load_head
from tst.transfer.run import run as transfer

TRANSFER = {
    "semseg": ["task.head=linear", "steps=6", "lr=3e-3"],
    "det": ["task.min_pixels=4", "steps=2", "task.model_kwargs.out_channels=32",
            "task.model_kwargs.representation_size=64", "task.model_kwargs.rpn_batch_size_per_image=32",
            "task.model_kwargs.box_batch_size_per_image=32"],
    "caption": ["steps=4", "task.decoding=greedy", "task.model_kwargs.d_model=32", "task.model_kwargs.layers=1",
                "task.model_kwargs.heads=2", "task.max_len=12", "task.use_java=false"],
}


def deploy_space(tmp_path_factory):
    """{eval, relabelled, semseg, det, caption} paths; built once per pytest session."""
    root = tmp_path_factory.getbasetemp() / "deploy_space"
    paths = {k: root / k for k in ("eval", "relabelled", "ext", *TRANSFER)}
    if (root / "ready").exists():
        return paths
    collect(compose_collect(paths["eval"], "frames=6", "shard_size=6", "split=eval", "extras=[caption]"))
    # the same views of the same room with its classes numbered differently (table = 1 … floor = 4, + lamp)
    collect(compose_collect(paths["relabelled"], "frames=6", "shard_size=6", "split=eval",
                            scene={"_target_": "tests.collect.relabelled_room", "scene_id": "box_room"}))
    collect(compose_collect(paths["ext"], "frames=8", "shard_size=8", "split=external", "extras=[caption]",
                            scene={"_target_": "tests.collect.seeded_room", "seed": 0}, external_seeds=[5, 6]))
    for task, extra in TRANSFER.items():
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose("transfer", overrides=[
                f"task={task}", f"data={paths['ext']}", f"vocab={paths['eval']}", f"out={paths[task]}", "logger=none",
                "batch_size=4", "eval_batch_size=4", "warmup=1", "log_every=100", "val_fraction=0.25", "device=cpu",
                *extra])
        transfer(cfg)
    (root / "ready").touch()
    return paths


def compose_deploy(heads, data, out, *overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("deploy", overrides=[f"heads=[{','.join(map(str, heads))}]", f"data={data}", f"out={out}",
                                            "logger=none", "device=cpu", "caption_use_java=false", *overrides])


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)


@pytest.fixture(scope="module")
def deployed(space, tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "all"
    res = run(compose_deploy([space["semseg"], space["det"], space["caption"]], space["eval"], out, "overlays=3"))
    return out, res


def test_deploy_writes_contract_metrics_report_and_overlays(deployed):
    out, res = deployed
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("semseg/mIoU", "semseg/IoU/floor", "det/AP", "det/AP50", "caption/CIDEr", "caption/BLEU-4"):
        assert isinstance(metrics[key], float), key
    assert 0 <= metrics["semseg/mIoU"] <= 100 and 0 <= metrics["det/AP50"] <= 100
    assert metrics["deploy/eval_views"] == 6 and metrics["deploy/semseg/unmapped_classes"] == 0
    assert res["run_dir"] == str(out) and (out / "config.yaml").is_file()
    pngs = sorted(p.name for p in (out / "overlays").glob("*.png"))
    assert pngs == ["00000000.png", "00000002.png", "00000005.png"]  # evenly spaced over the 6 views
    report = (out / "report.md").read_text()
    assert "| semseg | semseg/mIoU |" in report and "| det | det/AP50 |" in report
    assert "## Per-class IoU (semseg)" in report and f"| floor | {metrics['semseg/IoU/floor']:.2f} |" in report
    assert "overlays/00000002.png" in report


def test_semseg_miou_is_what_the_transferred_model_scores(deployed, space):
    """Recompute from head.pt with the task and evaluator directly: the plugin path must agree."""
    out, _ = deployed
    task, model, _ = load_head(space["semseg"])
    ds = ShardDataset(space["eval"], ("rgb", "semseg"))
    ev = SemSegEvaluator(task.class_names)
    batch = collate([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        ev.process([{"semseg": y} for y in batch["semseg"]], task.predict(model, batch))
    want = ev.evaluate()
    got = json.loads((out / "metrics.json").read_text())
    assert got["semseg/mIoU"] == pytest.approx(want["semseg/mIoU"], abs=1e-9)
    assert got["semseg/IoU/table"] == pytest.approx(want["semseg/IoU/table"], abs=1e-9)


def test_classes_are_matched_by_name_not_id(deployed, space, tmp_path, capsys):
    """The relabelled split shows the same views with permuted class ids and an extra class (lamp)."""
    out, _ = deployed
    first = json.loads((out / "metrics.json").read_text())
    res = run(compose_deploy([space["semseg"], space["det"]], space["relabelled"], tmp_path / "r"))
    for key in ("semseg/mIoU", "semseg/IoU/floor", "semseg/IoU/table", "det/AP", "det/AP50"):
        assert res[key] == pytest.approx(first[key], abs=1e-9), key
    report = (tmp_path / "r/report.md").read_text()
    assert "| semseg | - | lamp |" in report  # an eval class the head cannot predict is reported
    assert "cannot predict (ignored): ['lamp']" in capsys.readouterr().out


def test_bad_inputs_fail_early_with_the_fix(space, tmp_path):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"not_a_run holds no head\.pt.*\['notes\.txt'\]"):
        run(compose_deploy([space["semseg"], empty], space["eval"], tmp_path / "a"))
    with pytest.raises(ValueError, match=r"holds no \['caption'\].*extras=\[caption\]"):
        run(compose_deploy([space["caption"]], space["relabelled"], tmp_path / "b"))
    with pytest.raises(ValueError, match="data=.*eval split directory"):
        run(compose_deploy([space["semseg"]], tmp_path, tmp_path / "c"))
    with pytest.raises(ValueError, match="two heads for task 'semseg'"):
        run(compose_deploy([space["semseg"], space["semseg"]], space["eval"], tmp_path / "d"))
    with pytest.raises(ValueError, match="share no name"):
        run(_no_shared_names(space, tmp_path))


def _no_shared_names(space, tmp_path):
    """A deploy config whose eval split names none of the head's classes (a renamed manifest copy)."""
    import shutil

    split = tmp_path / "renamed"
    shutil.copytree(space["eval"], split)
    m = json.loads((split / "manifest.json").read_text())
    m["classes"] = {k: f"thing{k}" if k != "0" else v for k, v in m["classes"].items()}
    (split / "manifest.json").write_text(json.dumps(m))
    return compose_deploy([space["semseg"]], split, tmp_path / "e")


def test_resized_views_give_labels_at_the_view_size(space):
    from tst.transfer.perception import Perception

    p = Perception.from_run(space["semseg"], device="cpu")
    x = torch.rand(2, 3, 40, 56)
    outs = p.predict("semseg", x)
    assert [tuple(o["semseg"].shape) for o in outs] == [(40, 56), (40, 56)]
    assert set(np.unique(outs[0]["semseg"].numpy())) <= set(p.classes("semseg"))


def test_head_vocabulary_is_mapped_by_name_and_unmapped_predictions_are_dropped():
    from tst.models.vit import create_encoder
    from tst.transfer.deploy import HeadEval
    from tst.transfer.perception import Perception
    from tst.transfer.tasks.det import DetTask
    from tst.transfer.tasks.semseg import SemSegTask

    head_vocab = {1: "Table", 2: "sofa"}
    sem = SemSegTask(head_vocab, head="linear")
    det = DetTask(head_vocab, 64, model_kwargs={"out_channels": 16, "representation_size": 32})
    enc = lambda: create_encoder("tst_vit_test", modalities=["rgb"], img_size=64)  # noqa: E731
    p = Perception({"semseg": (sem, sem.build_model(enc()), 64), "det": (det, det.build_model(enc()), 64)}, "cpu")
    eval_vocab = {0: "unlabelled", 1: "floor", 2: "ceiling", 3: "wall", 4: "table"}
    ev = HeadEval("semseg", p, eval_vocab, None)
    assert ev.unmapped == ["sofa"] and ev.uncovered == ["floor", "ceiling", "wall"]
    assert ev.lut.tolist() == [0, 4, 0]
    assert ev.to_eval_ids([{"semseg": torch.tensor([[1, 2, 0]])}])[0]["semseg"].tolist() == [[4, 0, 0]]
    assert ev.gt_task.class_names == {4: "table"}  # only classes the head can predict are scored
    ev = HeadEval("det", p, eval_vocab, {"sofa": "wall"}, {"min_pixels": 4})
    assert ev.unmapped == [] and ev.lut.tolist() == [0, 4, 3]
    ev = HeadEval("det", p, eval_vocab, None, {"min_pixels": 4})
    out = ev.to_eval_ids([{"boxes": torch.tensor([[0.0, 0, 5, 5], [1, 1, 9, 9]]), "scores": torch.tensor([0.9, 0.8]),
                           "labels": torch.tensor([1, 2])}])[0]
    assert out["labels"].tolist() == [4] and out["boxes"].tolist() == [[0.0, 0, 5, 5]] and out["scores"].tolist() == [
        pytest.approx(0.9)]
