"""A stage's run directory: the resolved ``config.yaml``, ``provenance.json``, ``metrics.json`` and
the stage's artefacts (contract: every stage writes these and honours ``out=`` and ``resume=``).

Re-using a directory is explicit: the same config continues (resume), a different config is refused
with the differing keys listed, unless ``overwrite=true`` (replace) is given.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tst.atomic import write_json, write_text
from tst.provenance import provenance

# Keys that never make two runs different: where they go, how they are logged, how many
# processes do the work.
VOLATILE_KEYS = ("out", "resume", "overwrite", "logger", "workers", "preview", "progress")


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked; the message says why and what to pass instead."""


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain (nested dict/list) configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            key = f"{prefix}{k}"
            if k not in old or k not in new:
                out.append(key)
            else:
                out += config_diff(old[k], new[k], key + ".")
        return out
    return [] if old == new else [prefix.rstrip(".") or "<root>"]


def _strip(cfg: dict, keys: tuple[str, ...]) -> dict:
    return {k: v for k, v in cfg.items() if k not in keys}


class RunDir:
    """Create or re-open a run directory for a stage.

    ``config`` is the plain resolved config (``OmegaConf.to_container(cfg, resolve=True)``).
    ``may_differ`` names keys a resumed run may change (e.g. ``frames`` to extend a collection).
    """

    def __init__(self, path: str | Path, config: dict, *, resume: bool = False, overwrite: bool = False,
                 seed: int | None = None, may_differ: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self.config = config
        self.resumed = False
        cfg_file = self.path / "config.yaml"
        if cfg_file.exists():
            old = yaml.safe_load(cfg_file.read_text()) or {}
            ignore = VOLATILE_KEYS + tuple(may_differ if resume else ())
            diff = config_diff(_strip(old, ignore), _strip(config, ignore))
            if overwrite:
                shutil.rmtree(self.path)
            elif diff:
                shown = ", ".join(f"{k}: {_get(old, k)!r} -> {_get(config, k)!r}" for k in diff[:12])
                raise RunDirError(
                    f"{self.path} already holds a run with a different config ({shown}"
                    f"{', …' if len(diff) > 12 else ''}). Pass overwrite=true to replace it, or choose "
                    f"another out=<dir>.")
            else:
                self.resumed = True
        elif self.path.exists() and any(self.path.iterdir()) and not overwrite:
            raise RunDirError(f"{self.path} exists and is not a tst run directory (no config.yaml); "
                              f"choose another out=<dir> or pass overwrite=true")
        elif self.path.exists() and overwrite:
            shutil.rmtree(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            write_text(cfg_file, yaml.safe_dump(config, sort_keys=False))
            write_json(self.path / "provenance.json", provenance(seed))
        except OSError as e:
            raise RunDirError(f"cannot write the run directory {self.path}: {e.strerror or e}. "
                              f"Choose a writable out=<dir> with free space.") from e

    def file(self, name: str) -> Path:
        return self.path / name

    def read_metrics(self) -> dict:
        f = self.path / "metrics.json"
        return json.loads(f.read_text()) if f.exists() else {}

    def write_metrics(self, metrics: dict, merge: bool = True) -> dict:
        """Write flat ``task/metric`` keys with plain-number values; merged into what is there."""
        out = {**self.read_metrics(), **metrics} if merge else dict(metrics)
        write_json(self.path / "metrics.json", out)
        return out


def _get(d: dict, dotted: str) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return "<absent>"
        cur = cur[part]
    return cur


def open_run_dir(cfg: Any, **kwargs: Any) -> RunDir:
    """RunDir for a stage's DictConfig: ``cfg.out`` in a single run, Hydra's job directory in a multirun."""
    from omegaconf import OmegaConf

    path = Path(cfg.out)
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            path = Path(HydraConfig.get().runtime.output_dir)
    except ImportError:  # pragma: no cover - hydra is a dependency
        pass
    plain = OmegaConf.to_container(cfg, resolve=True)
    return RunDir(path, plain, resume=bool(cfg.get("resume", False)), overwrite=bool(cfg.get("overwrite", False)),
                  seed=cfg.get("seed"), **kwargs)
