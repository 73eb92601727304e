"""Every primary config and every config-group option composes, and every `_target_` resolves."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_object
from omegaconf import OmegaConf

from tst.cli import STAGES, config_dir, main

CONFIG_DIR = config_dir()
PRIMARY = sorted(name for name, _ in STAGES.values() if (CONFIG_DIR / f"{name}.yaml").exists())
GROUP_OPTIONS = sorted(
    (group.name, f.stem)
    for group in CONFIG_DIR.iterdir() if group.is_dir() and group.name not in ("base", "__pycache__")
    for f in group.glob("*.yaml")
)


def _targets(node, found):
    if isinstance(node, dict):
        if "_target_" in node:
            found.append(node["_target_"])
        for v in node.values():
            _targets(v, found)
    elif isinstance(node, list):
        for v in node:
            _targets(v, found)
    return found


@pytest.mark.parametrize("name", PRIMARY)
def test_primary_config_composes_and_targets_import(name):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=["logger=none"])
    plain = OmegaConf.to_container(cfg, resolve=False)
    assert "out" in plain and "seed" in plain and "resume" in plain, f"{name}.yaml must include base/run and out"
    for target in _targets(plain, []):
        get_object(target)


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_group_option_targets_import(group, option):
    """Files are checked directly: a group need not be selectable from every stage."""
    node = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / group / f"{option}.yaml"), resolve=False)
    if group in ("experiment", "debug"):
        return  # recipes: composed by the stage tests that use them
    for target in _targets(node, []):
        if target.startswith("tst."):
            get_object(target)


def test_unknown_stage_lists_the_stages(capsys):
    with pytest.raises(SystemExit, match=r"(?s)unknown stage 'colect' \(did you mean 'collect'\?\).*collect, pretrain"):
        main(["colect"])
    main(["--help"])
    assert "tst <stage>" in capsys.readouterr().out


def test_config_dir_is_the_repo_configs_folder():
    assert CONFIG_DIR == Path(__file__).resolve().parents[1] / "configs"
