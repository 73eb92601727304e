"""Every primary config and every config-group option composes, every `_target_` resolves, every
experiment/ and debug/ recipe composes with the stage it is for, and model sizes have one source."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_object
from omegaconf import OmegaConf

from tst.cli import STAGES, config_dir, main
from tst.models.vit import SIZES
from tst.pipeline import compose_config, grid_from_config, plan_jobs

CONFIG_DIR = config_dir()
PRIMARY = sorted(name for name, _ in STAGES.values() if (CONFIG_DIR / f"{name}.yaml").exists())
GROUP_OPTIONS = sorted(
    (group.name, f.stem)
    for group in CONFIG_DIR.iterdir() if group.is_dir() and group.name not in ("base", "stages", "__pycache__")
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


# what a stage's ??? fields need to compose and resolve
REQUIRED = {"pretrain": ["data=/x"], "transfer": ["data=/x"], "deploy": ["data=/x", "heads=[/x]"], "collect": [],
            "sweep": []}
# experiment/<prefix>_*.yaml is a recipe for this stage, selected with this override key
EXPERIMENT_STAGE = {"analysis": ("sweep", "experiment"), "pretrain": ("pretrain", "+experiment")}
EXPERIMENTS = sorted(f.stem for f in (CONFIG_DIR / "experiment").glob("*.yaml"))
DEBUGS = sorted((f.parent.parent.name, f.stem) for f in (CONFIG_DIR / "stages").glob("*/debug/*.yaml"))


def _compose(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides, return_hydra_config=True)


def _assert_applied(path: Path, cfg) -> None:
    """Every value the recipe sets is in the composed config, and every `override /group: option` was chosen."""
    recipe = OmegaConf.load(path)
    for entry in recipe.pop("defaults", []):
        (key, option), = entry.items()
        group = key.removeprefix("override ").removeprefix("/")
        assert cfg.hydra.runtime.choices[group] == option, f"{path.name}: {group} is not {option}"

    def walk(node, prefix):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                got = OmegaConf.select(cfg, f"{prefix}{k}")
                got = OmegaConf.to_container(got) if OmegaConf.is_config(got) else got
                assert got == v, f"{path.name}: {prefix}{k} composed to {got!r}, the recipe sets {v!r}"
    walk(OmegaConf.to_container(recipe), "")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_with_its_stage(name, tmp_path):
    prefix = name.split("_")[0]
    assert prefix in EXPERIMENT_STAGE, f"experiment/{name}.yaml: name it <stage prefix>_…, one of {list(EXPERIMENT_STAGE)}"
    stage, key = EXPERIMENT_STAGE[prefix]
    cfg = _compose(stage, [f"{key}={name}", *REQUIRED[stage]])
    _assert_applied(CONFIG_DIR / "experiment" / f"{name}.yaml", cfg)
    del cfg.hydra
    plain = OmegaConf.to_container(cfg, resolve=True)
    for target in _targets(plain, []):
        get_object(target)
    if stage == "sweep":  # the grid is valid: inits, tasks and objectives known, jobs planned
        jobs = plan_jobs(grid_from_config(plain["grid"]), tmp_path)
        assert {j.stage for j in jobs} >= {"collect", "transfer"}, f"{name}: {len(jobs)} jobs"
    else:
        assert plain["image_size"] % plain["model"]["patch_size"] == 0


def test_debug_tiny_exists_for_every_stage_that_renders_or_trains():
    assert {stage for stage, option in DEBUGS if option == "tiny"} == {"collect", "pretrain", "transfer", "deploy"}


@pytest.mark.parametrize(("stage", "option"), DEBUGS)
def test_debug_composes_and_only_shrinks_the_stage(stage, option):
    cfg = _compose(stage, [f"debug={option}", *REQUIRED[stage]])
    _assert_applied(CONFIG_DIR / "stages" / stage / "debug" / f"{option}.yaml", cfg)
    base = _compose(stage, REQUIRED[stage])
    assert cfg.logger.kind == "none"
    del cfg.hydra, base.hydra
    small, full = OmegaConf.to_container(cfg, resolve=True), OmegaConf.to_container(base, resolve=True)

    def numbers(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from numbers(v, f"{prefix}{k}.")
            elif isinstance(v, int | float) and not isinstance(v, bool):
                yield f"{prefix}{k}", v
    default = dict(numbers(full))
    bigger = {k: (v, default[k]) for k, v in numbers(small) if isinstance(default.get(k), int | float) and v > default[k]}
    assert not bigger, f"debug={option} makes {stage} bigger: {bigger} (tiny, default)"
    assert small != full


def test_debug_tiny_pretrain_runs_in_seconds(tmp_path):
    from tests.pretrain.fixtures import write_split
    from tst.pretrain.run import run

    split = write_split(tmp_path / "split", n=8, size=64)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="pretrain", overrides=["debug=tiny", f"data={split}", f"out={tmp_path / 'run'}",
                                                          "device=cpu"])
    res = run(cfg)
    assert res["pretrain/steps"] == 4 and (tmp_path / "run" / "export").is_dir()


def test_debug_tiny_transfer_runs_in_seconds(tmp_path):
    from tests.transfer.synthetic import write_split
    from tst.transfer.run import run

    split = write_split(tmp_path / "split", n=8)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="transfer", overrides=["debug=tiny", "task=semseg", "task.head=linear",
                                                          f"data={split}", f"out={tmp_path / 'run'}", "device=cpu"])
    res = run(cfg)
    assert res["transfer/steps"] == 4 and "semseg/mIoU" in res and (tmp_path / "run" / "head.pt").is_file()


@pytest.mark.parametrize("name", sorted(SIZES))
def test_model_sizes_come_from_the_code(name):
    """configs/model/<name>.yaml repeats no number of tst/models/vit.py SIZES: it reads them."""
    raw = OmegaConf.load(CONFIG_DIR / "model" / f"{name}.yaml")
    assert raw._target_ == "tst.models.vit.create_encoder" and raw.name == name
    for field in ("patch_size", "img_size"):
        assert "${tst.size:" in str(raw._get_node(field)._value()), f"model/{name}.yaml writes {field} itself"
    cfg = _compose("pretrain", [f"model={name}", "data=/x"])
    assert (cfg.model.patch_size, cfg.model.img_size, cfg.image_size) == \
        (SIZES[name]["patch_size"], SIZES[name]["img_size"], SIZES[name]["img_size"])


def test_model_options_are_the_registered_sizes():
    assert sorted(f.stem for f in (CONFIG_DIR / "model").glob("*.yaml")) == sorted(SIZES)


def test_an_unknown_model_name_is_refused_naming_the_valid_ones():
    cfg = _compose("pretrain", ["model.name=tst_vit_huge", "data=/x"])
    with pytest.raises(Exception, match=r"model.name='tst_vit_huge' is not a tst model; valid names: \['tst_vit_base'"):
        _ = cfg.model.patch_size


def test_groups_that_build_an_object_name_it_by_target():
    """One way to choose: an option that builds an object names it (`_target_`). objective and task are
    looked up by `name` on purpose: objective/*.yaml are global recipes (modalities + masker + decoder
    knobs of one MultiMAE), task/*.yaml are read by the task registry (tst.transfer.tasks)."""
    by_name = set()
    for group, option in GROUP_OPTIONS:
        if group in ("experiment", "debug"):
            continue
        node = OmegaConf.load(CONFIG_DIR / group / f"{option}.yaml")
        if "_target_" not in node:
            by_name.add(group)
    assert by_name == {"objective", "task"}


@pytest.mark.parametrize("config", ["sweep", "demo"])
def test_external_spaces_become_consecutive_external_seeds(config):
    def seeds(*overrides):
        cfg = compose_config(config, list(overrides))
        return OmegaConf.to_container(cfg.grid, resolve=True)["external_seeds"]

    assert seeds("external_spaces=5") == [1000, 1001, 1002, 1003, 1004]
    assert len(seeds()) == 48 and seeds()[-1] == 1047
    assert seeds("grid.external_seeds=[7,9]") == [7, 9]  # an explicit list still wins
    with pytest.raises(Exception, match="count must be >= 1"):
        seeds("external_spaces=0")


@pytest.mark.parametrize("config", ["sweep", "demo"])
def test_each_task_trains_its_own_number_of_head_steps(config, tmp_path):
    cfg = compose_config(config, ["steps.semseg=7", "steps.det=3", "steps.caption=5", "steps.depth=2",
                                  "batch_size.det=4", "grid.tasks=[semseg,det,caption,depth]", "grid.inits=[scratch]", "grid.task_inits=null",
                                  "grid.transfer_task.semseg=['task.head=linear']"])  # replacing a task's extras keeps its steps
    grid = grid_from_config(OmegaConf.to_container(cfg.grid, resolve=True))
    steps = {}
    for job in plan_jobs(grid, tmp_path):
        if job.stage == "transfer":
            last = {k: v for k, v in (o.split("=", 1) for o in job.overrides)}  # later overrides win, as in Hydra
            steps[job.params["task"]] = (int(last["steps"]), int(last["batch_size"]))
    assert steps == {"semseg": (7, 16), "det": (3, 4), "caption": (5, 16), "depth": (2, 16)}
