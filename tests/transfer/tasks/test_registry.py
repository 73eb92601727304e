"""One task registry: the task table of tst/ and the task classes of transfer/ name the same tasks, each class
reads its own table entry, and the runners name no task (adding one is a task file, a table entry, a config)."""

import ast
from pathlib import Path

import pytest

from tst import tasks as table
from tst.cli import config_dir
from tst.transfer.tasks import TASKS, Task, task_class

ROOT = Path(__file__).resolve().parents[3]
RUNNERS = ("transfer/run.py", "transfer/deploy.py", "transfer/perception.py", "transfer/head_checkpoint.py",
           "transfer/deploy_report.py", "transfer/evaluation.py", "tst/pipeline.py", "tst/aggregate.py")

# "depth" is also a modality: the observation's depth input (perception), the posed eval views read with the space
# map (deploy), the pretraining inputs (pipeline)
ALLOWED = {"transfer/perception.py": {"depth"}, "transfer/deploy.py": {"depth"}, "tst/pipeline.py": {"depth"}}


def test_both_registries_name_the_same_tasks_with_a_config_each():
    assert list(TASKS) == list(table.TASKS)
    for name, cls in TASKS.items():
        assert issubclass(cls, Task) and cls.info is table.TASKS[name] and cls.name == name
        assert not cls.__abstractmethods__, f"{name} leaves {sorted(cls.__abstractmethods__)} of the protocol open"
        assert cls.modalities == table.TASKS[name].modalities
        assert (Path(config_dir()) / "task" / f"{name}.yaml").is_file()
        for key in table.TASKS[name].required:
            assert key.startswith(f"{name}/") and key in table.TASKS[name].columns
    assert table.metric_columns()[:4] == ("semseg/mIoU", "det/AP", "det/AP50", "caption/CIDEr")
    assert not table.higher_is_better("depth/AbsRel") and table.higher_is_better("depth/delta1")


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"known tasks: \['semseg', 'det', 'caption', 'depth'\]"):
        task_class("pose")
    with pytest.raises(KeyError, match="known tasks"):
        table.task_info("pose")


@pytest.mark.parametrize("path", RUNNERS)
def test_runners_hold_no_task_names(path):
    names = set(TASKS) - ALLOWED.get(path, set())
    found = [(n.lineno, n.value) for n in ast.walk(ast.parse((ROOT / path).read_text()))
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names]
    assert not found, f"{path} names tasks {found}: ask the task object (tst.transfer.tasks) instead"
