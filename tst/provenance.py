"""What produced a run: git hash, package versions, command line, time. Recorded with every run."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_PACKAGES = ("tst", "torch", "torchvision", "timm", "numpy", "open3d", "trimesh", "hydra-core",
             "pycocotools", "pycocoevalcap", "opencv-python-headless", "webdataset", "wandb")


def git_hash(root: Path = REPO_ROOT) -> str:
    """HEAD commit, with ``-dirty`` when the work tree has changes; ``unknown`` outside a checkout."""
    try:
        h = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if h.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return h.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu() -> dict[str, str]:
    """The CPU model and the vector kernels torch dispatches to (``AVX512``, ``AVX2``, …; when torch is loaded).

    Why: the same config and seed give the same numbers on one machine, but float kernels differ between CPUs:
    the demo's semseg mIoU came out 21.96 on one machine at two commits and 21.86 on another, same config."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"model": model}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["capability"] = str(torch.backends.cpu.get_cpu_capability())
    return out


def provenance(seed: int | None = None) -> dict:
    return {
        "git": git_hash(),
        "seed": seed,
        "versions": versions(),
        "command": " ".join(sys.argv),
        "host": platform.node(),
        "cpu": cpu(),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
