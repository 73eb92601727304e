"""The task table: what the code outside ``tst.transfer`` needs to know about a task, as plain data.

Sweeps, aggregation and reports (``tst.pipeline``, ``tst.aggregate``, ``tst.report``) need a task's
metric keys but must not import a stage (ARCHITECTURE.md, tests/test_layering.py), so the keys live
here; the task objects themselves (head, loss, evaluator, deploy scoring, plugin output) are in
``tst.transfer.tasks``, one file per task, each reading its entry of this table (``TaskInfo``).
A test checks that the two registries name the same tasks.

Metric conventions (contract): mIoU, AP and depth δ<1.25 in percent (0–100); captions on the
pycocoevalcap scale; depth AbsRel as a fraction and RMSE in metres (lower is better for both).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskInfo:
    """One task's names and keys.

    ``modalities``: the shard members a sample needs (what transfer reads and deploy checks);
    ``required``: the keys a finished run must report (a sweep marks the job failed without them);
    ``columns``: the keys the sweep tables aggregate; ``headline``: the keys a deploy report lists;
    ``higher_is_better``: per column, for anyone ranking runs; ``vocabulary``: predicts class ids
    (deploy maps its classes onto the eval split's by name)."""

    name: str
    modalities: tuple[str, ...]
    required: tuple[str, ...]
    columns: tuple[str, ...]
    headline: tuple[str, ...]
    higher_is_better: tuple[bool, ...]
    vocabulary: bool
    self_trains: bool = False  # its head can train on its own predictions fused over the space (transfer self_train)
    map_aware: bool = False  # its outputs can be corrected by the test space's map (transfer space_map)


TASKS: dict[str, TaskInfo] = {t.name: t for t in (
    TaskInfo("semseg", ("rgb", "semseg"), ("semseg/mIoU",), ("semseg/mIoU",),
             ("semseg/mIoU", "semseg/pixel_acc"), (True,), vocabulary=True, self_trains=True, map_aware=True),
    TaskInfo("det", ("rgb", "semseg", "instance"), ("det/AP", "det/AP50"), ("det/AP", "det/AP50"),
             ("det/AP", "det/AP50", "det/AP75"), (True, True), vocabulary=True, map_aware=True),
    TaskInfo("caption", ("rgb", "caption"), ("caption/CIDEr",), ("caption/CIDEr",),
             ("caption/CIDEr", "caption/BLEU-4", "caption/ROUGE-L", "caption/METEOR"), (True,), vocabulary=False,
             map_aware=True),
    TaskInfo("depth", ("rgb", "depth"), ("depth/AbsRel", "depth/RMSE", "depth/delta1"),
             ("depth/AbsRel", "depth/RMSE", "depth/delta1"), ("depth/AbsRel", "depth/RMSE", "depth/delta1"),
             (False, False, True), vocabulary=False),
)}

# what a sweep and the demo run unless grid.tasks says otherwise (the recipe's timings were measured on these)
DEFAULT_TASKS = ("semseg", "det", "caption")


def task_info(name: str) -> TaskInfo:
    """The table entry of ``name``; an unknown name fails listing the known ones."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {list(TASKS)}")
    return TASKS[name]


def metric_columns() -> tuple[str, ...]:
    """Every task's aggregated keys, in table order (the sweep tables' columns)."""
    return tuple(k for t in TASKS.values() for k in t.columns)


def task_of(key: str) -> str:
    """The task a metric key belongs to (its prefix)."""
    return key.split("/")[0]


def higher_is_better(key: str) -> bool:
    """Whether a larger value of an aggregated key is better (False for depth AbsRel / RMSE)."""
    t = TASKS.get(task_of(key))
    if t is None or key not in t.columns:
        return True
    return t.higher_is_better[t.columns.index(key)]
