"""The stage chain as plain data: a grid of scenes x inits x objectives x seeds x tasks becomes a list of
stage jobs (collect -> pretrain -> transfer), each with its own run directory under one root.

Why a job list and not one Hydra multirun per stage: the grid is a graph with shared upstream work
(one collection per space, one pretraining per data source x objective x seed, reused by every task),
which a cartesian multirun over a single stage cannot express. A job's run directory is a pure
function of its parameters, so two cells that need the same upstream job name the same directory,
and a re-run finds finished jobs by their ``config.yaml`` + completion marker (``is_done``).

Init names: ``scratch``; ``tst`` (pretrained on the test space itself); ``other`` (the same pretraining
budget on the external spaces); ``other<k>`` (on the first k external spaces); ``space<i>`` (on the
procedural space with seed i, and self-trained on its views like ``tst`` — the
specialization-generalization matrix: its heads are trained once, for space i, and ``tst deploy`` scores
them on the other spaces' eval views); ``oracle`` (the ceiling: the
TST encoder, its head trained for the same steps on as many LABELLED views of the test space itself as
the external set has, collected with another pose seed than the eval views — a label budget no user has).

Test spaces: an int in ``scenes`` is a seed of the procedural ``scene`` (its runs live under ``synth<j>``); a
name is a key of ``spaces``, whose collect overrides load any scene (a Replica or ScanNet folder, a mesh):
``grid.scenes=[3,room0] "grid.spaces={room0:['scene=replica','scene.path=/data/room0']}"`` (Hydra needs the
quotes) runs under ``room0``.
The external labelled set stays procedural (``external_seeds``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tst.rundir import VOLATILE_KEYS, config_diff
from tst.tasks import DEFAULT_TASKS, TASKS

TASK_KEYS = {name: t.required for name, t in TASKS.items()}  # what a finished transfer of each task reports
SELF_TRAIN_TASKS = tuple(n for n, t in TASKS.items() if t.self_trains)  # what transfer's self_train supports
# config keys a stage takes on by resuming a finished run (its earlier phases stay valid): transfer's
# self_train starts from the checkpoint the external steps left (transfer/run.py: may_differ)
EXTENDS = {"transfer": ("self_train",)}
_SPACE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_RESERVED = re.compile(r"^(synth\d+|other\d*|space\d+|external)$")  # names the sweep's own directories use
_INIT = re.compile(r"^(scratch|tst|oracle|other|other(?P<k>\d+)|space(?P<i>\d+))$")
ORACLE_POSE_SEED = 7919  # collect seed of the oracle's labelled test-space views (the eval views use the sweep's)


@dataclass(frozen=True)
class Job:
    """One stage run. ``name`` is also its run directory relative to the pipeline root."""

    name: str
    stage: str  # collect | pretrain | transfer | deploy
    overrides: tuple[str, ...]  # Hydra overrides, without out=
    deps: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def out(self, root: Path) -> Path:
        return Path(root) / self.name

    def argv(self, root: Path) -> list[str]:
        return [*self.overrides, f"out={self.out(root)}"]


@dataclass(frozen=True)
class Objective:
    """A pretraining objective of the ablations: the ``objective=`` config and its input modalities."""

    objective: str = "multimae"
    modalities: tuple[str, ...] = ("rgb", "depth", "normal")


@dataclass(frozen=True)
class Grid:
    """What to run. ``scenes`` are the test spaces (seeds of ``scene``, or names of ``spaces``); overrides are
    appended per stage."""

    scenes: tuple[int | str, ...] = (0,)
    inits: tuple[str, ...] = ("tst", "scratch", "other")
    objectives: Mapping[str, Objective] = field(default_factory=lambda: {"multimae": Objective()})
    seeds: tuple[int, ...] = (0,)
    tasks: tuple[str, ...] = DEFAULT_TASKS
    external_seeds: tuple[int, ...] = (1000, 1001, 1002)
    frames_pretrain: int = 128
    frames_eval: int = 48
    frames_external: int = 128
    scene: str = "synth"
    model: str = "tst_vit_test"
    collect: tuple[str, ...] = ()
    pretrain: tuple[str, ...] = ()
    transfer: tuple[str, ...] = ()
    transfer_task: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    head_steps: Mapping[str, int] = field(default_factory=dict)  # task -> transfer steps (before transfer_task)
    deploy: bool = False  # True: heads are scored by `tst deploy` on the eval split (transfer holds out external views)
    deploy_overrides: tuple[str, ...] = ()
    # task -> transfer overrides of the TST head's self-training on the test space's pretraining views
    # (transfer ``self_train``; a space<i> head on space i's views); tasks not listed, and the other inits,
    # train on the external set only
    self_train: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # task -> the inits whose heads train it (tasks not listed: every init); an expensive task can be run for
    # the comparison that matters (e.g. {det: [tst, other]}) while the cheap ones keep the full grid
    task_inits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # name -> collect overrides of a test space that is not a procedural seed (a scan: scene=replica scene.path=…)
    spaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, overrides in self.spaces.items():
            if not _SPACE_NAME.match(str(name)) or _RESERVED.match(str(name)):
                raise ValueError(f"spaces: {name!r} cannot name a test space; use letters, digits, '_' or '-', "
                                 f"starting with a letter, and not synth<j>, other<k>, space<i> or external")
            if not any(str(o).startswith("scene=") for o in overrides):
                raise ValueError(f"spaces.{name}: {list(overrides)} does not say which scene to load; start with "
                                 f"scene=<replica|scannet|scannetpp|mesh|thor|synth> and its path, e.g. "
                                 f"\"grid.spaces={{{name}:['scene=replica','scene.path=/data/room0']}}\"")
        for s in self.scenes:
            if isinstance(s, str) and s not in self.spaces:
                raise ValueError(f"scenes: {s!r} is neither a procedural seed (an int) nor a key of spaces "
                                 f"({sorted(self.spaces)}); add \"grid.spaces={{{s}:['scene=…','scene.path=…']}}\"")
        for init in self.inits:
            m = _INIT.match(init)
            if not m:
                raise ValueError(f"inits: {init!r} is not an init; use scratch, tst, oracle, other, other<k> "
                                 f"(first k external spaces) or space<i> (pretrained on scene seed i)")
            if m["k"] and not 1 <= int(m["k"]) <= len(self.external_seeds):
                raise ValueError(f"inits: {init!r} needs {m['k']} external spaces but external_seeds has "
                                 f"{len(self.external_seeds)}; list more seeds in external_seeds")
        bad = sorted(set(self.tasks) - set(TASK_KEYS))
        if bad:
            raise ValueError(f"tasks: {bad} unknown; choose from {list(TASK_KEYS)}")
        bad = sorted(set(self.self_train) - set(SELF_TRAIN_TASKS))
        if bad:
            raise ValueError(f"self_train: {bad} cannot self-train; tasks that can: {list(SELF_TRAIN_TASKS)}")
        bad = sorted(set(self.head_steps) - set(TASK_KEYS))
        if bad:  # a misspelt task would silently train with transfer.yaml's default steps
            raise ValueError(f"head_steps: {bad} are not tasks; key them by {list(TASK_KEYS)}")
        # a restriction of a task that does not run, or to inits that do not run, is moot (the demo's
        # task_inits must not break `grid.tasks=[semseg]`); a misspelt task or init, or no init left, is an error
        for task, inits in self.task_inits.items():
            if task not in TASK_KEYS:
                raise ValueError(f"task_inits: {task!r} is not a task; key it by one of {list(TASK_KEYS)}")
            bad = [i for i in inits if not _INIT.match(i)]
            if bad:
                raise ValueError(f"task_inits.{task}: {bad} are not inits (scratch, tst, oracle, other, other<k>, "
                                 f"space<i>)")
            if task in self.tasks and not set(inits) & set(self.inits):
                raise ValueError(f"task_inits.{task}: {list(inits)} leaves none of inits {list(self.inits)} to train "
                                 f"{task}; list one of them, or set grid.task_inits=null")
        clash = sorted(set(s for s in self.scenes if isinstance(s, int)) & set(self.external_seeds))
        if clash:
            raise ValueError(f"scenes {clash} are also in external_seeds: external data must come from other spaces")
        if not self.objectives:
            raise ValueError("objectives: give at least one, e.g. {multimae: {objective: multimae}}")


def space_dir(scene: int | str) -> str:
    """The directory name of a test space's runs: ``synth<j>`` for a procedural seed, else its ``spaces`` name."""
    return f"synth{scene}" if isinstance(scene, int) else str(scene)


def space_order(scene: int | str) -> tuple:
    """Sort key of test spaces: procedural seeds by number, then named spaces by name."""
    return (isinstance(scene, str), scene if isinstance(scene, int) else 0, str(scene))


def _seq(xs: Iterable) -> str:
    return "[" + ",".join(str(x) for x in xs) + "]"


def plan_jobs(grid: Grid, root: Path) -> list[Job]:
    """Every job the grid needs under ``root``, upstream first, each exactly once."""
    jobs: dict[str, Job] = {}

    def at(name: str) -> str:
        return str(Path(root) / name)

    def add(job: Job) -> str:
        jobs.setdefault(job.name, job)
        return job.name

    edges = any("edges" in o.modalities for o in grid.objectives.values())
    extras_pre = "extras=[edges]" if edges else "extras=[]"

    def collect(name: str, split: str, frames: int, *extra: str, scene: Sequence[str] | None = None) -> str:
        """``scene``: a named space's own overrides (they replace ``scene=grid.scene``)."""
        head = (f"scene={grid.scene}",) if scene is None else ()
        return add(Job(f"data/{name}", "collect", (*head, f"split={split}", f"frames={frames}", *extra,
                                                   *grid.collect, *(scene or ()))))

    def space(j: int | str) -> dict[str, Any]:
        """collect()'s keywords and extra overrides that render test space ``j``."""
        return {"scene": tuple(grid.spaces[j])} if isinstance(j, str) else {"extra": (f"scene.seed={j}",)}

    def collect_space(j: int | str, split_dir: str, split: str, frames: int, *extra: str) -> str:
        sp = space(j)
        return collect(f"{space_dir(j)}/{split_dir}", split, frames, *extra, *sp.get("extra", ()),
                       scene=sp.get("scene"))

    external = collect("external", "external", grid.frames_external, "extras=[caption]",
                       f"external_seeds={_seq(grid.external_seeds)}")

    def source_data(source: str) -> str:
        if source.startswith("other"):
            k = int(source[5:])
            return collect(source, "external", grid.frames_pretrain, extras_pre,
                           f"external_seeds={_seq(grid.external_seeds[:k])}")
        named = source in grid.spaces and not re.fullmatch(r"synth\d+", source)
        return collect_space(source if named else int(source[5:]), "pretrain", "pretrain", grid.frames_pretrain,
                             extras_pre)

    def pretrain(source: str, oname: str, seed: int) -> str:
        o, data = grid.objectives[oname], source_data(source)
        return add(Job(f"pretrain/{source}/{oname}/seed{seed}", "pretrain",
                       (f"data={at(data)}", f"model={grid.model}", f"objective={o.objective}",
                        f"modalities={_seq(o.modalities)}", f"seed={seed}", *grid.pretrain), deps=(data,)))

    def eval_split(j: int | str) -> str:
        return collect_space(j, "eval", "eval", grid.frames_eval, "extras=[caption]")

    def cell_heads(j: int | str, init: str, oname: str, seed: int, source: str, enc: str | None) -> list[str]:
        """The heads of one (space j, init, objective, seed) cell, scored on space j's eval views."""
        ev, train = eval_split(j), external
        if init == "oracle":  # labelled views of the test space itself, other poses than the eval views
            train = collect_space(j, "labelled", "eval", grid.frames_external, "extras=[caption]",
                                  f"seed={ORACLE_POSE_SEED}")
        cell = f"{space_dir(j)}/{init}/{oname}"
        deploy = f"deploy/{cell}/seed{seed}" if grid.deploy else None
        heads = []
        for task in grid.tasks:
            if init not in grid.task_inits.get(task, (init,)):
                continue
            deps = (train, ev) + ((enc,) if enc else ())
            adapt: tuple[str, ...] = ()
            # TST's test-space training: the space's unlabelled views, fused. A space<i> row is TST for space i
            # (its pretraining and self-training), wherever it is evaluated (the matrix)
            if (init == "tst" or init.startswith("space")) and task in grid.self_train:
                views = source_data(source)
                deps, adapt = deps + (views,), (f"self_train.data={at(views)}", *grid.self_train[task])
            heads.append(add(Job(
                f"transfer/{cell}/{task}/seed{seed}", "transfer",
                (f"task={task}", f"data={at(train)}", *(() if deploy else (f"val={at(ev)}",)),
                 f"vocab={at(ev)}", f"init={'scratch' if enc is None else at(enc + '/export')}",
                 f"model={grid.model}", f"seed={seed}", *grid.transfer,
                 *((f"steps={grid.head_steps[task]}",) if task in grid.head_steps else ()),
                 *grid.transfer_task.get(task, ()), *adapt),
                deps=deps, params={"scene": j, "init": init, "objective": oname, "task": task,
                                   "seed": seed, "source": source, "scored_by": deploy})))
        if deploy and heads:
            add(Job(deploy, "deploy", (f"heads={_seq(at(h) for h in heads)}", f"data={at(ev)}",
                                       *grid.deploy_overrides), deps=(ev, *heads)))
        return heads

    for j in grid.scenes:
        ev = eval_split(j)
        for init in grid.inits:
            source = {"tst": space_dir(j), "oracle": space_dir(j),
                      "other": f"other{len(grid.external_seeds)}"}.get(init, init)
            if source.startswith("space"):
                source = f"synth{source[5:]}"
            home = int(init[5:]) if init.startswith("space") else j  # the space a space<i> row is TST for
            for oname in (("none",) if init == "scratch" else tuple(grid.objectives)):
                for seed in grid.seeds:
                    enc = None if init == "scratch" else pretrain(source, oname, seed)
                    if home == j or home not in grid.scenes:
                        cell_heads(j, init, oname, seed, source, enc)
                        continue
                    # the matrix off its diagonal: space i's own heads (trained once, for its classes) deployed on
                    # space j's eval views, which `tst deploy` matches by class name; no map: it is another space
                    heads = cell_heads(home, init, oname, seed, source, enc)
                    add(Job(f"deploy/{space_dir(j)}/{init}/{oname}/seed{seed}", "deploy",
                            (f"heads={_seq(at(h) for h in heads)}", f"data={at(ev)}", "space_map=false",
                             *grid.deploy_overrides), deps=(ev, *heads),
                            params={"scene": j, "init": init, "objective": oname, "seed": seed,
                                    "tasks": [h.split("/")[-2] for h in heads]}))
    return list(jobs.values())


def compose_config(stage: str, overrides: Sequence[str]):
    """The stage's composed DictConfig, exactly as ``tst <stage> overrides…`` would see it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tst.cli import STAGES, config_dir

    name = STAGES[stage][0] if stage in STAGES else stage  # demo: a config, not a stage
    if GlobalHydra.instance().is_initialized():  # inside `tst sweep` (hydra.main): same config dir
        return compose(config_name=name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def _complete(stage: str, path: Path, metrics: dict, cfg: dict) -> bool:
    if stage == "collect":
        f = path / "manifest.json"
        man = json.loads(f.read_text()) if f.exists() else {}
        return bool(man.get("complete")) and "content_hash" in man
    if stage == "pretrain":
        return metrics.get("pretrain/steps") == cfg["steps"] and (path / "export").is_dir()
    if stage == "transfer":  # with self_train, the metrics of the run before it (or its space map) are not enough
        adapted = not (cfg.get("self_train") or {}).get("data") or \
            (metrics.get("self_train/steps") == cfg["self_train"]["steps"] and "self_train/map_voxels" in metrics)
        return metrics.get("transfer/steps") == cfg["steps"] and adapted and (path / "head.pt").is_file()
    return bool(metrics)


def _configs(job: Job, root: Path) -> tuple[list[str], dict] | None:
    """(the keys whose values differ between the run in the job's directory and the job, the job's resolved
    config), volatile keys aside; None when the directory holds no config or the job no longer composes."""
    from omegaconf import OmegaConf

    f = job.out(root) / "config.yaml"
    if not f.is_file():
        return None
    old = yaml.safe_load(f.read_text()) or {}
    try:
        new = OmegaConf.to_container(compose_config(job.stage, job.argv(root)), resolve=True)
    except Exception:  # an override that no longer composes: not this run
        return None
    strip = lambda d: {k: v for k, v in d.items() if k not in VOLATILE_KEYS}  # noqa: E731
    return config_diff(strip(old), strip(new)), new


def same_config(job: Job, root: Path) -> dict | None:
    """The job's resolved config when its run directory holds a run of exactly that config, else None."""
    pair = _configs(job, root)
    return pair[1] if pair is not None and not pair[0] else None


def resumable(job: Job, root: Path) -> bool:
    """True when the job's directory holds a run of this config, or one that differs only in keys the stage
    adds by resuming (``EXTENDS``: its finished phases stay valid and are continued, not trained again)."""
    pair = _configs(job, root)
    return pair is not None and all(k.split(".")[0] in EXTENDS.get(job.stage, ()) for k in pair[0])


def is_done(job: Job, root: Path) -> bool:
    """True when the job's run directory holds a finished run of exactly this config."""
    path = job.out(root)
    if not (path / "metrics.json").is_file():
        return False
    cfg = same_config(job, root)
    return cfg is not None and _complete(job.stage, path, json.loads((path / "metrics.json").read_text()), cfg)


def grid_from_config(g: Mapping[str, Any]) -> Grid:
    """A Grid from the plain (resolved) ``grid:`` block of demo.yaml / sweep.yaml."""
    objs = {k: Objective(v.get("objective", "multimae"), tuple(v.get("modalities", ("rgb", "depth", "normal"))))
            for k, v in (g.get("objectives") or {"multimae": {}}).items()}
    frames = g.get("frames", {})
    return Grid(scenes=tuple(g.get("scenes", (0,))), inits=tuple(g.get("inits", Grid.inits)), objectives=objs,
                seeds=tuple(g.get("seeds", (0,))), tasks=tuple(g.get("tasks", Grid.tasks)),
                external_seeds=tuple(g.get("external_seeds", Grid.external_seeds)),
                frames_pretrain=int(frames.get("pretrain", Grid.frames_pretrain)),
                frames_eval=int(frames.get("eval", Grid.frames_eval)),
                frames_external=int(frames.get("external", Grid.frames_external)),
                scene=g.get("scene", "synth"), model=g.get("model", "tst_vit_test"),
                collect=tuple(g.get("collect") or ()), pretrain=tuple(g.get("pretrain") or ()),
                transfer=tuple(g.get("transfer") or ()),
                transfer_task={k: tuple(v or ()) for k, v in (g.get("transfer_task") or {}).items()},
                head_steps={k: int(v) for k, v in (g.get("head_steps") or {}).items()},
                deploy=bool(g.get("deploy", False)), deploy_overrides=tuple(g.get("deploy_overrides") or ()),
                self_train={k: tuple(v or ()) for k, v in (g.get("self_train") or {}).items()},
                task_inits={k: tuple(v or ()) for k, v in (g.get("task_inits") or {}).items()},
                spaces={str(k): tuple(v or ()) for k, v in (g.get("spaces") or {}).items()})
