"""Run directories: config + provenance written, same config continues, different config refused."""

import json

import pytest
import yaml

from tst.rundir import RunDir, RunDirError, config_diff


def test_writes_config_provenance_and_merges_metrics(tmp_path):
    rd = RunDir(tmp_path / "run", {"seed": 3, "frames": 10, "out": "x"}, seed=3)
    assert yaml.safe_load((tmp_path / "run/config.yaml").read_text())["frames"] == 10
    prov = json.loads((tmp_path / "run/provenance.json").read_text())
    assert prov["seed"] == 3 and "torch" in prov["versions"] and prov["git"]
    rd.write_metrics({"semseg/mIoU": 12.5})
    rd.write_metrics({"det/AP": 3.0})
    assert json.loads((tmp_path / "run/metrics.json").read_text()) == {"semseg/mIoU": 12.5, "det/AP": 3.0}


def test_same_config_reopens_and_volatile_keys_do_not_count(tmp_path):
    RunDir(tmp_path, {"frames": 10, "workers": 1, "out": "a"})
    assert RunDir(tmp_path, {"frames": 10, "workers": 2, "out": "b"}).resumed


def test_different_config_is_refused_with_the_differing_keys(tmp_path):
    RunDir(tmp_path, {"frames": 10, "scene": {"seed": 1}})
    with pytest.raises(RunDirError, match=r"scene\.seed: 1 -> 2.*overwrite=true"):
        RunDir(tmp_path, {"frames": 10, "scene": {"seed": 2}})
    rd = RunDir(tmp_path, {"frames": 10, "scene": {"seed": 2}}, overwrite=True)
    assert not rd.resumed


def test_resume_may_change_only_the_named_keys(tmp_path):
    RunDir(tmp_path, {"frames": 10, "seed": 0})
    assert RunDir(tmp_path, {"frames": 20, "seed": 0}, resume=True, may_differ=("frames",)).resumed
    with pytest.raises(RunDirError, match="seed"):
        RunDir(tmp_path, {"frames": 20, "seed": 1}, resume=True, may_differ=("frames",))


def test_config_diff_lists_nested_and_missing_keys():
    assert config_diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0}) == ["a.c", "d"]


def test_unwritable_out_is_a_clear_error(tmp_path):
    """A path below a regular file cannot be created, even as root."""
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RunDirError, match="writable out=<dir>"):
        RunDir(tmp_path / "file.txt" / "run", {"a": 1})
