"""The test space's colour calibration: the identity inside the labelled spaces' range, the nearest point of it
outside, written by transfer with the space's views and applied by the plugin, deploy and the map."""

import hashlib
import io
import json
import shutil
import tarfile

import cv2
import numpy as np
import pytest
import torch

from tests.transfer.test_deploy import compose_deploy, deploy_space
from tests.transfer.test_self_train import _cfg
from tst.transfer.deploy import run as deploy
from tst.transfer.perception import Perception
from tst.transfer.run import run
from tst.transfer.space_colour import (
    COLOUR_FILE,
    ColourCalibration,
    Moments,
    MomentSum,
    fit,
    labelled_spaces,
)
from tst.transfer.space_map import posed_views, space_of

LABELLED = [Moments((0.40, 0.40, 0.40), (0.10, 0.10, 0.10)), Moments((0.60, 0.55, 0.50), (0.20, 0.25, 0.30))]


def _moments(x: np.ndarray) -> Moments:
    s = MomentSum()
    s.add(x)
    return s.moments()


def test_a_space_inside_the_labelled_range_is_left_exactly_as_it_is():
    c = fit(Moments((0.5, 0.45, 0.41), (0.15, 0.2, 0.29)), LABELLED)
    assert c.identity and c.scale == (1.0, 1.0, 1.0) and c.shift == (0.0, 0.0, 0.0)
    x = torch.rand(2, 3, 4, 4)
    assert c(x) is x  # not even a copy


def test_a_space_outside_is_moved_to_the_nearest_point_of_the_range_per_channel():
    rng = np.random.default_rng(0)
    # red too bright and too flat, green inside, blue too dark; values far from 0 and 1, so nothing clips
    x = np.stack([rng.normal(0.75, 0.05, 20000), rng.normal(0.5, 0.12, 20000), rng.normal(0.3, 0.1, 20000)], -1)
    c = fit(_moments(x), LABELLED)
    assert not c.identity
    assert c.target.mean == pytest.approx((0.60, 0.5, 0.40), abs=1e-3)  # clipped to [0.4, 0.6] / kept / [0.4, 0.5]
    assert c.target.std[0] == pytest.approx(0.10, abs=1e-3)  # 0.05 lifted to the range's 0.10
    assert c.scale[1] == 1.0 and c.shift[1] == 0.0  # green lies inside: untouched
    y = c(torch.from_numpy(x.T.reshape(1, 3, 200, 100).copy()).float())
    got = _moments(y[0].permute(1, 2, 0).double().numpy().reshape(-1, 3))
    assert got.mean == pytest.approx(c.target.mean, abs=1e-4) and got.std == pytest.approx(c.target.std, abs=1e-4)

def test_calibrated_views_stay_images_and_a_flat_channel_keeps_its_spread():
    c = fit(Moments((0.95, 0.5, 0.5), (0.0, 0.15, 0.15)), LABELLED)
    assert c.scale[0] == 1.0 and c.shift[0] == pytest.approx(0.60 - 0.95)  # no spread to scale: only shifted
    y = c(torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1) * torch.ones(1, 3, 2, 2) * 3 - 1)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_saved_calibration_loads_back_exactly_and_a_foreign_file_is_refused(tmp_path):
    c = fit(Moments((0.9, 0.2, 0.5), (0.05, 0.4, 0.2)), LABELLED, space_hash="abc")
    assert ColourCalibration.load(c.save(tmp_path / COLOUR_FILE)) == c
    (tmp_path / "bad.json").write_text(json.dumps({"scale": [1, 1, 1]}))
    with pytest.raises(ValueError, match="bad.json: not a colour calibration written by `tst transfer`"):
        ColourCalibration.load(tmp_path / "bad.json")


def test_labelled_views_are_measured_per_space():
    a, b = torch.full((3, 2, 2), 0.2), torch.full((3, 2, 2), 0.8)
    ds = [{"rgb": a, "meta": {"scene_id": "x"}}, {"rgb": b, "meta": {"scene_id": "y"}},
          {"rgb": a + 0.1, "meta": {"scene_id": "x"}}, {"rgb": b}]
    got = labelled_spaces(ds, [0, 1, 2])
    assert sorted(got) == ["x", "y"]
    assert got["x"].mean == pytest.approx((0.25,) * 3) and got["x"].std == pytest.approx((0.05,) * 3)
    assert got["y"].mean == pytest.approx((0.8,) * 3) and got["y"].std == pytest.approx((0.0,) * 3, abs=1e-6)
    assert list(labelled_spaces(ds, [3])) == ["all"]  # a set without spaces (COCO, folders) is one


def shifted_copy(src, dst, gain=(1.3, 1.0, 0.6)):
    """A copy of a shard split whose rgb went through another camera's white balance (the same space)."""
    shutil.copytree(src, dst)
    man = json.loads((dst / "manifest.json").read_text())
    for sh in man["shards"]:
        path = dst / sh["name"]
        with tarfile.open(src / sh["name"]) as tin, tarfile.open(path, "w") as tout:
            for m in tin.getmembers():
                data = tin.extractfile(m).read()
                if m.name.endswith(".rgb.png"):
                    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.float32)
                    im = np.clip(im * np.float32(gain[::-1]), 0, 255).round().astype(np.uint8)  # BGR on disk
                    data = cv2.imencode(".png", im)[1].tobytes()
                info = tarfile.TarInfo(m.name)
                info.size = len(data)
                tout.addfile(info, io.BytesIO(data))
        sh["bytes"], sh["sha256"] = path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()
    (dst / "manifest.json").write_text(json.dumps(man, indent=2))
    return dst


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    sp = dict(deploy_space(tmp_path_factory))
    sp["shifted"] = shifted_copy(sp["eval"], tmp_path_factory.mktemp("shifted") / "eval")
    return sp


def test_transfer_calibrates_the_space_and_every_reader_sees_it_through_it(space, tmp_path):
    out = tmp_path / "run"
    m = run(_cfg(space, out, f"self_train.data={space['shifted']}", "self_train.steps=0", "self_train.voxel=0.2",
                 f"val={space['shifted']}"))
    c = ColourCalibration.load(out / COLOUR_FILE)
    assert m["self_train/colour_calibrated"] == 1.0 and m["self_train/colour_mean_shift"] > 5
    assert c.space_hash == space_of(space["shifted"]) and c.scale[0] < 1.0  # the boosted red is brought down
    rgb, depth, meta = posed_views(space["shifted"], "test")
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div(255)
    p = Perception.from_run(out, device="cpu")
    assert p.colour == c
    task, model, size = p.heads["semseg"]
    with torch.inference_mode():
        want = task.perceive(model, c(x), size)
    got = p.predict("semseg", x)
    assert all(torch.equal(a["semseg"], b["semseg"]) for a, b in zip(got, want))
    assert all(np.array_equal(o["semseg"], w["semseg"].numpy()) for o, w in zip(p(list(rgb)), want))
    # deploy on the same space scores what transfer scored (both through the calibration) ...
    res = deploy(compose_deploy([out], space["shifted"], tmp_path / "dep", "overlays=0"))
    assert res["semseg/mIoU"] == pytest.approx(m["semseg/mIoU"])
    assert res["semseg/map_mIoU"] == pytest.approx(m["semseg/map_mIoU"])
    # ... and transfer's own score used it: without it the same head scores the shifted views otherwise
    off = tmp_path / "off"
    m_off = run(_cfg(space, off, f"self_train.data={space['shifted']}", "self_train.steps=0", "self_train.voxel=0.2",
                     "self_train.colour=false", f"val={space['shifted']}"))
    assert not (off / COLOUR_FILE).exists() and "self_train/colour_calibrated" not in m_off
    raw = [o["semseg"] for o in Perception.from_run(off, device="cpu").predict("semseg", x)]
    assert any(not torch.equal(a, b["semseg"]) for a, b in zip(raw, want))


def test_views_of_another_space_are_not_calibrated(space, tmp_path, capsys):
    out = tmp_path / "run"
    run(_cfg(space, out, f"self_train.data={space['shifted']}", "self_train.steps=0", "self_train.voxel=0.2"))
    other = tmp_path / "room"  # another room: another scene hash
    from tests.collect import compose_collect
    from tst.collect.run import run as collect

    collect(compose_collect(other, "frames=4", "shard_size=4", "split=eval",
                            scene={"_target_": "tests.collect.seeded_room", "seed": 3}))
    res = deploy(compose_deploy([out], other, tmp_path / "dep", "overlays=0", "space_map=false"))
    assert "of another space than the colour calibration" in capsys.readouterr().out
    p = Perception.from_run(out, device="cpu", space_map=False)
    p.colour = None
    rgb, _, _ = posed_views(other, "test")
    from tst.dataset import ShardDataset
    from tst.metrics.semseg import SemSegEvaluator

    truth = ShardDataset(other, ("semseg",))
    ev = SemSegEvaluator(p.task("semseg").class_names)
    for i, o in enumerate(p(list(rgb))):
        ev.add(p.task("semseg").labels({"semseg": truth[i]["semseg"]}).numpy(), o["semseg"].astype(np.int64))
    assert res["semseg/mIoU"] == pytest.approx(ev.evaluate()["semseg/mIoU"])

