"""The package-dir mapping installs every stage folder under the tst namespace."""

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"tst": "tst", "envs": "tst.envs", "collect": "tst.collect", "pretrain": "tst.pretrain",
           "transfer": "tst.transfer", "configs": "tst.configs"}


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, ns in MAPPING.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((ns, *rel)))
    assert found - listed == set(), f"add these to [tool.setuptools] packages in pyproject.toml: {found - listed}"
    assert listed - found == set(), f"listed but missing on disk: {listed - found}"


def test_code_imports_stages_through_the_tst_namespace():
    """`import envs` would load a second copy of the module next to `tst.envs`."""
    bad = re.compile(r"^\s*(from|import)\s+(envs|collect|pretrain|transfer|configs)(\.|\s)", re.M)
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = [f for f in files if bad.search((ROOT / f).read_text())]
    assert offenders == [], f"import these as tst.<stage>: {offenders}"


def test_stage_modules_import_as_tst_subpackages():
    import tst.collect
    import tst.envs.scene

    assert Path(tst.envs.scene.__file__).parent == ROOT / "envs"
    assert Path(tst.collect.__file__).parent == ROOT / "collect"


def test_every_declared_dependency_is_imported_somewhere():
    """A dependency nobody imports is weight for every user (rich and pygltflib were); webdataset is
    imported only by the test proving our shards are WebDataset shards, which is why it stays."""
    from importlib.metadata import packages_distributions

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps}
    # `import x` / `from x import …`, and package data read with importlib.resources.files("x")
    top = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)|files\(\s*\"([A-Za-z_]\w*)\"", re.M)
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    modules = {a or b for f in files for a, b in top.findall((ROOT / f).read_text())}
    dists = packages_distributions()
    imported = {d.lower().replace("_", "-") for m in modules for d in dists.get(m, [])}
    assert declared - imported == set(), f"declared in pyproject.toml but never imported: {declared - imported}"
