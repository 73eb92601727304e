"""labeller=head: a transferred segmentation head's predictions become a member (second TST round)."""

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.transfer.test_deploy import deploy_space
from tst.collect.pseudo_labels import run
from tst.shards import iter_split
from tst.transfer.perception import Perception


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return deploy_space(tmp_path_factory)


def _cfg(data, out, run_dir, name="pred"):
    labeller = {"_target_": "tst.collect.labellers.HeadLabeller", "run": str(run_dir), "name": name,
                "device": "cpu", "batch_size": 4}
    return OmegaConf.create({"data": str(data), "out": str(out), "fit_images": 4, "batch_size": 4,
                             "labeller": labeller, "logger": {"kind": "none"}, "seed": 0, "resume": False,
                             "overwrite": False})


def test_head_predictions_are_stored_exactly_with_the_head_vocabulary(space, tmp_path):
    assert run(_cfg(space["eval"], tmp_path / "aug", space["semseg"]))["member"] == "pred.png"
    perceive = Perception.from_run(space["semseg"], device="cpu")
    samples = list(iter_split(tmp_path / "aug"))
    assert len(samples) == 6
    for s in samples:
        assert s["pred"].dtype == np.uint16
        np.testing.assert_array_equal(s["pred"], perceive({"rgb": s["rgb"]})["semseg"])
    state = json.loads((tmp_path / "aug" / "manifest.json").read_text())["labellers"]["pred"]
    assert state["run"] == str(space["semseg"])
    assert state["classes"] == {str(k): v for k, v in perceive.classes("semseg").items()}


def test_a_run_without_a_semseg_head_is_refused(space, tmp_path):
    from hydra.errors import InstantiationException

    with pytest.raises(InstantiationException, match=r"needs a semseg head.*\['det'\]"):
        run(_cfg(space["eval"], tmp_path / "aug", space["det"]))
