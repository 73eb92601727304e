"""Dependency direction (ARCHITECTURE.md): a stage (collect/, pretrain/, transfer/) imports tst/ and envs/
only, never another stage; envs/ imports no stage. Every import is checked, function-local ones included,
by parsing the sources with ``ast`` (nothing is imported, so an optional dependency cannot hide one)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("collect", "pretrain", "transfer")
CHECKED = (*STAGES, "envs")  # folder -> installed as tst.<folder> (pyproject.toml package-dir)


def _module_of(folder: str, path: Path) -> str:
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["tst", folder, *parts])


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything ``source`` (the code of ``module``) imports, at any depth;
    ``from tst import transfer`` counts as ``tst.transfer``, relative imports are resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            if "." not in base:  # `from tst import transfer`: the names are the modules
                found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def foreign_stages(source: str, module: str, is_package: bool = False) -> list[str]:
    """``line: name`` of each import of a stage other than the one ``module`` belongs to."""
    own = module.split(".")[1]
    bad = []
    for line, name in imported_modules(source, module, is_package):
        parts = name.split(".")
        if len(parts) >= 2 and parts[0] == "tst" and parts[1] in STAGES and parts[1] != own:
            bad.append(f"{line}: {name}")
    return sorted(set(bad))


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("folder", CHECKED)
def test_no_stage_imports_another_stage(folder):
    files = _sources(folder)
    assert len(files) >= 5, f"found only {files} under {ROOT / folder}"
    problems = {}
    for path in files:
        bad = foreign_stages(path.read_text(), _module_of(folder, path), path.name == "__init__.py")
        if bad:
            problems[str(path.relative_to(ROOT))] = bad
    assert not problems, (f"{folder}/ imports another stage (move what two stages share into tst/ or envs/, or "
                          f"use the public plugin `from tst import Perception`): {problems}")


def test_the_check_sees_every_form_of_import():
    src = '''
import tst.pretrain.loop
from tst import transfer
from tst.envs.scene import Scene
from tst.collect.manifest import build_manifest

def label():
    from tst.transfer.perception import Perception
    from ..pretrain import loop as pl
    from .. import transfer as tr
    from . import members
    importlib.import_module("tst.transfer.run")
'''
    assert set(foreign_stages(src, "tst.collect.labellers")) == {
        "2: tst.pretrain.loop", "3: tst.transfer", "8: tst.transfer.perception", "9: tst.pretrain",
        "10: tst.transfer", "12: tst.transfer.run"}
    assert foreign_stages("from .policies import walk\n", "tst.envs", is_package=True) == []
    assert foreign_stages("from ...collect import run\n", "tst.envs.policies.walk") == ["1: tst.collect"]
