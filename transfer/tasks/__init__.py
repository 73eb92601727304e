"""The task registry: task name -> its class (one file per task, protocol in ``base.py``).

The names and metric keys are ``tst.tasks.TASKS`` (readable by sweeps and reports without importing
this stage); tests/transfer/tasks/test_registry.py checks that both registries name the same tasks.
"""

from __future__ import annotations

from tst.transfer.tasks.base import Task, TaskSpec
from tst.transfer.tasks.caption import CaptionTask
from tst.transfer.tasks.depth import DepthTask
from tst.transfer.tasks.det import DetTask
from tst.transfer.tasks.semseg import SemSegTask

TASKS: dict[str, type[Task]] = {t.name: t for t in (SemSegTask, DetTask, CaptionTask, DepthTask)}


def task_class(name: str) -> type[Task]:
    """The class of task ``name``; an unknown name fails listing the known ones."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {list(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "Task", "TaskSpec", "task_class"]
