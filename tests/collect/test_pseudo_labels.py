"""tst collect augment: a pseudo modality from a tiny timm model or a TorchScript module, added to a new split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from tests.collect.test_coco import make_labelled_split, make_view
from tst.collect.labellers import TimmFeatureLabeller, TorchScriptLabeller
from tst.collect.pseudo_labels import raw_samples, run
from tst.shards import iter_split, list_shards

TIMM = {"_target_": "tst.collect.labellers.TimmFeatureLabeller", "model_name": "test_vit", "checkpoint": None,
        "channels": 3, "name": "feat", "batch_size": 2, "seed": 0}


def cfg(data, out, labeller, **kw):
    return OmegaConf.create({"data": str(data), "out": str(out), "fit_images": 4, "batch_size": 2,
                             "labeller": labeller, "logger": {"kind": "none"}, "seed": 0, "resume": False,
                             "overwrite": False, **kw})


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return make_labelled_split(tmp_path_factory.mktemp("aug") / "src", n=5, captions=True, shard_size=3)


def test_timm_features_pca(split, tmp_path):
    res = run(cfg(split, tmp_path / "out", TIMM))
    out = tmp_path / "out"
    assert res["member"] == "feat.png" and res["augment/frames"] == 5
    assert [p.name for p in list_shards(out)] == [p.name for p in list_shards(split)]
    for src, dst in zip(list_shards(split), list_shards(out)):  # originals byte for byte, plus feat.png
        for (k1, m1), (k2, m2) in zip(raw_samples(src), raw_samples(dst)):
            assert k1 == k2 and set(m2) == set(m1) | {"feat.png"}
            assert all(m2[s] == m1[s] for s in m1)
    man = json.loads((out / "manifest.json").read_text())
    assert man["modalities"][-1] == "feat" and man["members"][-1] == "feat.png"
    assert man["source_content_hash"] == json.loads((split / "manifest.json").read_text()).get("content_hash")
    pca = man["labellers"]["feat"]["pca"]
    comp = np.array(pca["components"])  # [D, 3]
    assert comp.shape == (64, 3)  # test_vit has 64-dim tokens
    np.testing.assert_allclose(comp.T @ comp, np.eye(3), atol=1e-6)
    # the stored map = features projected with the manifest's PCA, scaled, bilinearly upsampled
    lab = TimmFeatureLabeller("test_vit", channels=3, name="feat", seed=0)
    rgb = make_view(0)["rgb"]
    with torch.no_grad():
        f = lab.features(rgb[None])[0].permute(1, 2, 0).numpy()  # [10, 10, 64]
    proj = (f - np.array(pca["mean"])) @ comp
    low = np.clip(np.rint((proj - pca["lo"]) / (np.array(pca["hi"]) - pca["lo"]) * 255), 0, 255)
    up = F.interpolate(torch.tensor(low, dtype=torch.float32).permute(2, 0, 1)[None], size=(64, 64),
                       mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    stored = next(iter_split(out))["feat"]
    assert stored.shape == (64, 64, 3) and stored.dtype == np.uint8
    assert np.abs(stored.astype(int) - np.rint(up)).max() <= 1
    assert stored.std() > 5  # not a constant image


def test_deterministic_and_resumes(split, tmp_path):
    a = run(cfg(split, tmp_path / "a", TIMM))
    ha = json.loads((tmp_path / "a" / "manifest.json").read_text())["content_hash"]
    list_shards(tmp_path / "a")[1].unlink()
    b = run(cfg(split, tmp_path / "a", TIMM, resume=True))
    hb = json.loads((tmp_path / "a" / "manifest.json").read_text())["content_hash"]
    assert ha == hb and b["augment/shards_skipped"] == 1 and b["augment/frames"] == 2 and a["augment/frames"] == 5


def test_torchscript_label_and_float_outputs(split, tmp_path):
    class Red(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, H, W] integer labels
            return (x[:, 0] > 0.5).long() * 7

    class Half(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, 2, H, W] float
            return torch.stack([x.mean(1), x[:, 1] - x[:, 2]], 1)

    torch.jit.save(torch.jit.script(Red()), str(tmp_path / "red.pt"))
    torch.jit.save(torch.jit.script(Half()), str(tmp_path / "half.pt"))
    ts = {"_target_": "tst.collect.labellers.TorchScriptLabeller", "path": str(tmp_path / "red.pt"), "name": "red",
          "channels": None, "batch_size": 2, "seed": 0}
    assert run(cfg(split, tmp_path / "red", ts))["member"] == "red.png"
    for i, s in enumerate(iter_split(tmp_path / "red")):
        want = (make_view(i)["rgb"][..., 0] > 127).astype(np.uint16) * 7
        assert s["red"].dtype == np.uint16 and np.array_equal(s["red"], want)
    ts2 = {**ts, "path": str(tmp_path / "half.pt"), "name": "half"}
    assert run(cfg(split, tmp_path / "half", ts2))["member"] == "half.npy"
    s = next(iter_split(tmp_path / "half"))
    rgb = make_view(0)["rgb"].astype(np.float32) / 255
    np.testing.assert_allclose(s["half"][..., 0], rgb.mean(-1), atol=1e-6)
    assert s["half"].shape == (64, 64, 2) and s["half"].dtype == np.float32


def test_torch_export_program(tmp_path):
    class Green(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, 1:2] * 2.0

    batch = torch.export.Dim("batch", min=1, max=64)
    prog = torch.export.export(Green(), (torch.zeros(2, 3, 16, 16),), dynamic_shapes=({0: batch},))
    torch.export.save(prog, str(tmp_path / "green.pt2"))
    lab = TorchScriptLabeller(str(tmp_path / "green.pt2"), name="green")
    rgb = np.random.default_rng(0).integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_allclose(lab(rgb)[..., 0], rgb[..., 1] / 255.0 * 2, atol=1e-6)


def test_checkpoint_is_loaded_from_a_local_file(tmp_path):
    import timm

    torch.manual_seed(123)
    ref = timm.create_model("test_vit", pretrained=False).eval()
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    lab = TimmFeatureLabeller("test_vit", checkpoint=str(tmp_path / "w.pt"), channels=3, seed=0)
    x = np.random.default_rng(0).integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        mine = lab.features(x)
        lab.model = ref
        theirs = lab.features(x)
    assert torch.equal(mine, theirs)


def test_bad_input_fails_clearly(split, tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        TimmFeatureLabeller("test_vit", checkpoint=str(tmp_path / "missing.pt"))
    with pytest.raises(KeyError, match="not a timm model"):
        TimmFeatureLabeller("no_such_net_xyz")
    with pytest.raises(FileNotFoundError, match="torch.jit.save"):
        TorchScriptLabeller(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="overwrite an existing modality"):
        run(cfg(split, tmp_path / "x", {**TIMM, "name": "depth"}))
    with pytest.raises(ValueError, match="member name"):
        TimmFeatureLabeller("test_vit", name="a.b")
