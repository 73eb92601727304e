"""`tst transfer` and `tst report` with logger=wandb (offline): the pictures they write reach the run."""

from hydra import compose, initialize_config_dir

from tests.transfer.synthetic import write_split
from tests.tst.wandb_offline import offline_run
from tst.cli import config_dir
from tst.transfer.run import run


def test_transfer_logs_its_prediction_preview(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    split = write_split(tmp_path / "split", n=8)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="transfer", overrides=[
            "task=semseg", "task.head=linear", f"data={split}", f"out={tmp_path / 'run'}", "logger=wandb",
            "batch_size=4", "eval_batch_size=4", "warmup=1", "log_every=1", "val_fraction=0.25", "steps=2"])
    res = run(cfg)
    wb = offline_run(tmp_path / "run")
    assert {h["_step"] for h in wb["history"] if "train/loss" in h} == {1, 2}
    preds = [h for h in wb["history"] if h.get("transfer/predictions/_type") == "image-file"]
    assert [h["_step"] for h in preds] == [2] and preds[0]["transfer/predictions/caption"] == "preview"
    assert wb["summary"]["semseg/mIoU"] == res["semseg/mIoU"]


def test_report_logs_its_plots(tmp_path, monkeypatch):
    import tst.report as report

    monkeypatch.delenv("WANDB_MODE", raising=False)
    import numpy as np

    from tst.png import encode_png

    def fake_render(root, analysis, metric=None):  # the plots render() writes, without a finished sweep
        for name in ("gain", "matrix"):
            (tmp_path / f"{name}.png").write_bytes(encode_png(np.full((4, 4, 3), len(name), np.uint8)))
        (tmp_path / "report.md").write_text("# report\n")
        return {}

    monkeypatch.setattr(report, "render", fake_render)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="report", overrides=[f"dir={tmp_path}", "logger=wandb"])
    report.run(cfg)
    keys = {k.split("/_type")[0] for h in offline_run(tmp_path)["history"] for k in h if k.endswith("/_type")}
    assert keys == {"report/gain", "report/matrix"}


def test_deploy_logs_its_overlays(tmp_path_factory, tmp_path, monkeypatch):
    from tests.transfer.test_deploy import deploy_space
    from tst.transfer.deploy import run as deploy

    monkeypatch.delenv("WANDB_MODE", raising=False)
    space = deploy_space(tmp_path_factory)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("deploy", overrides=[f"heads=[{space['semseg']}]", f"data={space['eval']}",
                                           f"out={tmp_path / 'dep'}", "logger=wandb", "device=cpu",
                                           "caption_use_java=false", "overlays=2"])
    deploy(cfg)
    written = sorted(p.stem for p in (tmp_path / "dep" / "overlays").glob("*.png"))
    logged = [h for h in offline_run(tmp_path / "dep")["history"] if "deploy/overlays/_type" in h]
    assert len(logged) == 1 and logged[0]["deploy/overlays/count"] == len(written) == 2
    assert sorted(logged[0]["deploy/overlays/captions"]) == written
