"""`tst pretrain` with its default logger (logger=wandb, offline): the losses and the reconstruction
previews it writes reach the offline wandb run."""

from tests.pretrain.fixtures import pretrain_cfg, write_split
from tests.tst.wandb_offline import offline_run
from tst.pretrain.run import run


def test_default_offline_wandb_gets_losses_and_previews(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the config's mode=offline is what runs
    data = write_split(tmp_path / "split", n=4, size=32)
    cfg = pretrain_cfg(data, tmp_path / "run", "logger=wandb", "steps=2", "preview_every=2")
    assert cfg.logger.kind == "wandb" and cfg.logger.mode == "offline"
    res = run(cfg)
    wb = offline_run(tmp_path / "run")
    losses = {h["_step"]: h["train/loss"] for h in wb["history"] if "train/loss" in h}
    assert sorted(losses) == [1, 2] and abs(losses[2] - res["pretrain/loss"]) < 1e-6
    previews = [h for h in wb["history"] if h.get("pretrain/preview/_type") == "image-file"]
    assert [h["_step"] for h in previews] == [2]
    assert [p.name.split("_")[0] for p in wb["images"]] == ["preview"]
    assert wb["summary"]["pretrain/steps"] == 2
