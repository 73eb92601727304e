"""`tst pretrain` end to end on tiny shards: artefacts, resume that continues the same loss curve,
and the bad inputs of the issue (missing modality, sizes, NaN loss, incompatible resume)."""

import json

import pytest
import torch

import tst.pretrain.objective as objective_module
import tst.pretrain.run as run_module
from tests.pretrain.fixtures import pretrain_cfg, write_split
from tst.checkpoint import CheckpointError, load_checkpoint, load_encoder
from tst.pretrain.run import NonFiniteLoss, run
from tst.rundir import RunDirError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("split") / "pretrain", n=8, size=32)


def _losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return {r["step"]: (r["train/loss"], r["train/rgb"], r["train/depth"], r["lr"]) for r in rows if "train/loss" in r}


def test_run_writes_checkpoint_export_metrics_log_and_previews(tmp_path, data):
    split40 = write_split(tmp_path / "split40", n=4, size=40, seed=1)  # augment crops 40 px -> 32 px
    res = run(pretrain_cfg(split40, tmp_path / "run", "augment.scale=[0.5,1.0]", "preview_every=2", "steps=2"))
    rd = tmp_path / "run"
    assert {"config.yaml", "provenance.json", "metrics.json", "log.jsonl", "ckpt.pt", "export"} <= {
        p.name for p in rd.iterdir()}
    metrics = json.loads((rd / "metrics.json").read_text())
    assert metrics["pretrain/steps"] == 2 and set(metrics) >= {"pretrain/rgb", "pretrain/depth", "pretrain/normal"}
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert res["pretrain/loss"] == metrics["pretrain/loss"]
    row = json.loads((rd / "log.jsonl").read_text().splitlines()[-1])
    assert {"train/loss", "train/rgb", "lr", "samples_per_s", "mem_mb", "grad_norm"} <= set(row)
    png = (rd / "previews" / "step_000002.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    state = load_checkpoint(rd / "ckpt.pt")
    assert (state["step"], state["data_position"], state["model_name"]) == (2, 8, "tst_vit_test")
    assert state["modalities"] == ["rgb", "depth", "normal"] and state["config"]["lr"] == 3e-4
    enc, info = load_encoder(res["export"])
    assert info["step"] == 2 and info["modalities"] == ["rgb", "depth", "normal"]
    assert info["timm"]["model"] == "vit_tiny_patch16_224" and (rd / "export" / "timm.safetensors").is_file()
    for k, v in enc.state_dict().items():
        assert torch.equal(v, state["model"][f"encoder.{k}"]), k
    feats = enc.forward_intermediates(torch.randn(1, 3, 32, 32), indices=2, intermediates_only=True)
    assert [f.shape for f in feats] == [(1, 64, 4, 4)] * 2


def test_killed_and_resumed_run_continues_the_same_loss_curve(tmp_path, data, monkeypatch):
    run(pretrain_cfg(data, tmp_path / "whole", "steps=5"))
    whole = _losses(tmp_path / "whole")

    real_save = run_module.save_checkpoint

    def save_then_die(path, **kw):
        real_save(path, **kw)
        if kw["step"] == 2:
            raise KeyboardInterrupt  # the process is killed right after the step-2 checkpoint

    monkeypatch.setattr(run_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(pretrain_cfg(data, tmp_path / "killed", "steps=5"))
    monkeypatch.setattr(run_module, "save_checkpoint", real_save)
    with pytest.raises(CheckpointError, match="resume=true"):
        run(pretrain_cfg(data, tmp_path / "killed", "steps=5"))
    run(pretrain_cfg(data, tmp_path / "killed", "steps=5", "resume=true"))
    resumed = _losses(tmp_path / "killed")
    assert sorted(resumed) == [1, 2, 3, 4, 5]
    for s in range(1, 6):
        assert resumed[s] == pytest.approx(whole[s], rel=1e-5, abs=1e-6), f"step {s}"
    assert whole[3] != pytest.approx(whole[2], rel=1e-6)  # the curve moves: the comparison means something


def test_resume_refuses_an_incompatible_config_but_may_extend_steps(tmp_path, data):
    run(pretrain_cfg(data, tmp_path / "run", "steps=2"))
    with pytest.raises(RunDirError, match=r"lr: 0\.0003 -> 0\.001"):
        run(pretrain_cfg(data, tmp_path / "run", "steps=2", "lr=1e-3", "resume=true"))
    res = run(pretrain_cfg(data, tmp_path / "run", "steps=3", "resume=true"))
    assert res["pretrain/steps"] == 3 and sorted(_losses(tmp_path / "run")) == [1, 2, 3]


def test_nan_loss_stops_names_the_modality_and_keeps_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    real = objective_module.masked_loss
    calls = {"n": 0}

    def poisoned(modality, *a, **kw):
        calls["n"] += 1
        loss = real(modality, *a, **kw)
        return loss * float("nan") if modality == "depth" and calls["n"] > 6 else loss  # from step 3 on

    monkeypatch.setattr(objective_module, "masked_loss", poisoned)
    with pytest.raises(NonFiniteLoss, match=r"step 3 in modality depth.*ckpt\.pt"):
        run(pretrain_cfg(data, tmp_path / "run", "steps=4"))
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["step"] == 2
    assert "non-finite" in (tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1]


def test_missing_modality_lists_what_the_shards_have(tmp_path):
    split = write_split(tmp_path / "rgbd", n=2, modalities=("rgb", "depth"))
    with pytest.raises(KeyError, match=r"no \['normal'\].*shards hold: \['depth', 'meta', 'rgb'\]"):
        run(pretrain_cfg(split, tmp_path / "run"))


def test_size_mismatches_and_cpu_half_precision_fail_early(tmp_path, data):
    with pytest.raises(ValueError, match="has rgb of size .32, 32. but image_size=64; set image_size=32"):
        run(pretrain_cfg(data, tmp_path / "a", "image_size=64"))
    with pytest.raises(ValueError, match="image_size=36 is not a multiple of model.patch_size=8"):
        run(pretrain_cfg(data, tmp_path / "b", "image_size=36"))
    with pytest.raises(ValueError, match="batch_size=5 must divide into accum=2"):
        run(pretrain_cfg(data, tmp_path / "c", "batch_size=5", "accum=2"))
    with pytest.raises(ValueError, match="use precision=fp32"):
        run(pretrain_cfg(data, tmp_path / "d", "precision=bf16"))


def test_accumulation_gives_the_same_step_as_one_big_batch(tmp_path, data):
    run(pretrain_cfg(data, tmp_path / "one", "steps=2"))
    run(pretrain_cfg(data, tmp_path / "acc", "steps=2", "accum=2"))
    one, acc = _losses(tmp_path / "one"), _losses(tmp_path / "acc")
    for s in (1, 2):
        assert acc[s] == pytest.approx(one[s], rel=1e-5, abs=1e-6)


def test_mae_objective_subsets_and_init_from_an_export(tmp_path, data, capsys):
    res = run(pretrain_cfg(data, tmp_path / "mae", "objective=mae", "steps=1"))
    assert "pretrain/rgb" in res and "pretrain/depth" not in res
    with pytest.raises(ValueError, match="objective=mae reconstructs rgb from rgb only"):
        run(pretrain_cfg(data, tmp_path / "bad", "objective=mae", "modalities=[rgb,depth]"))
    edges = write_split(tmp_path / "edges", n=4, modalities=("rgb", "depth", "normal", "edges"))
    res = run(pretrain_cfg(edges, tmp_path / "edges_run", "modalities=[rgb,depth,normal,edges]", "steps=1",
                           f"init={tmp_path / 'mae' / 'export'}"))
    assert "pretrain/edges" in res
    report = json.loads((tmp_path / "edges_run" / "init_report.json").read_text())
    assert report["unexpected"] == [] and "modality_embed.edges" in report["missing"]
    assert not any(k.startswith(("blocks.", "adapters.rgb", "norm.")) for k in report["missing"])
    out = capsys.readouterr().out
    assert ("missing ['adapters.depth.proj.bias', 'adapters.depth.proj.weight', 'adapters.edges.proj.bias', "
            "'adapters.edges.proj.weight', 'adapters.normal.proj.bias', 'adapters.normal.proj.weight', "
            "'modality_embed.depth', 'modality_embed.edges', 'modality_embed.normal'], unexpected []") in out


def test_experiment_recipes_compose_and_the_debug_one_runs(tmp_path, data):
    from hydra import compose, initialize_config_dir

    from tst.cli import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        tiny = compose(config_name="pretrain", overrides=["+experiment=pretrain_tiny", f"data={data}"])
        debug = compose(config_name="pretrain", overrides=["+experiment=pretrain_debug", f"data={data}",
                                                            f"out={tmp_path / 'debug'}", "logger=none",
                                                            "augment=null", "device=cpu"])
    # the paper's setting: ViT-Tiny at 224², patch 16, 98 visible tokens, decoder 256x2
    assert (tiny.model.name, tiny.image_size, tiny.model.patch_size) == ("tst_vit_tiny", 224, 16)
    assert tiny.objective.visible_ratio * (224 // 16) ** 2 == 98 and tiny.modalities == ["rgb", "depth", "normal"]
    assert (tiny.objective.dec_dim, tiny.objective.dec_depth) == (256, 2)
    res = run(debug)
    assert res["pretrain/steps"] == 4 and (tmp_path / "debug" / "previews" / "step_000004.png").exists()


def test_the_loss_goes_down_on_a_small_split(tmp_path, data):
    run(pretrain_cfg(data, tmp_path / "run", "steps=60", "lr=2e-3", "warmup=5", "objective.dec_dim=64",
                     "objective.dec_heads=4", "ckpt_every=60"))
    losses = _losses(tmp_path / "run")
    first = sum(losses[s][0] for s in range(1, 6)) / 5
    last = sum(losses[s][0] for s in range(51, 61)) / 10
    assert last < 0.85 * first, (first, last)  # measured here: 3.24 -> 2.59


def test_semseg_split_trains_with_classes_from_the_manifest(tmp_path):
    split = write_split(tmp_path / "eval", n=4, modalities=("rgb", "depth", "semseg"))
    res = run(pretrain_cfg(split, tmp_path / "run", "modalities=[rgb,depth,semseg]", "steps=2",
                           "augment.scale=[0.6,1.0]", "preview_every=2"))
    assert res["pretrain/semseg"] > 0 and (tmp_path / "run" / "previews" / "step_000002.png").exists()
    enc, info = load_encoder(res["export"])
    assert info["model_kwargs"]["num_classes"] == {"semseg": 7}  # 7 names in the manifest vocabulary
    assert enc.adapters["semseg"].num_classes == 7
