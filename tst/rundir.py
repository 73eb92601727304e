"""A stage's run directory: the resolved ``config.yaml``, ``provenance.json``, ``metrics.json`` and
the stage's artefacts (contract: every stage writes these and honours ``out=`` and ``resume=``).

Re-using a directory is explicit: the same config continues (resume), a different config is refused
with the differing keys listed, unless ``overwrite=true`` (replace) is given. A run that never started
(it failed validation after config.yaml was written: nothing but RunDir's own files is there) is
replaced by the corrected command. One process at a time owns a run directory: it holds an flock on
``.tst.lock`` (released when the RunDir is dropped or the process dies); a second one is refused
naming the holder's PID.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import weakref
from pathlib import Path
from typing import Any

import yaml

from tst.atomic import write_json, write_text
from tst.provenance import provenance

# Keys that never make two runs different: where they go, how they are logged, how many
# processes do the work.
VOLATILE_KEYS = ("out", "resume", "overwrite", "logger", "workers", "preview", "progress")


LOCK_NAME = ".tst.lock"
# What a run writes before its first real work: a directory holding only these never started.
_STARTUP = {"config.yaml", "provenance.json", "log.jsonl", "wandb", LOCK_NAME}
_HELD: dict[str, list[int]] = {}  # resolved run dir -> [lock fd, RunDirs of this process using it]


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked; the message says why and what to pass instead."""


def _lock(path: Path) -> str:
    """Take (or share, within this process) the run directory's lock; refuse if another process holds it."""
    key = str(path.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        os.close(fd)
        raise RunDirError(f"{path} is in use by process {holder[0] if holder else '<unknown>'} (it holds "
                          f"{path / LOCK_NAME}); wait for it to finish, stop it, or choose another out=<dir>") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {os.uname().nodename}\n".encode(), 0)
    _HELD[key] = [fd, 1]
    return key


def _unlock(key: str) -> None:
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[key]
        os.close(held[0])  # closing the last descriptor releases the flock


def _never_started(path: Path) -> bool:
    """Only RunDir's own files, and a log without rows: the stage failed before doing any work."""
    if any(p.name not in _STARTUP for p in path.iterdir()):
        return False
    log = path / "log.jsonl"
    return not log.is_file() or not log.read_text().strip()


def _clear(path: Path) -> None:
    """Empty the directory but keep the lock file we hold."""
    for p in path.iterdir():
        if p.name == LOCK_NAME:
            continue
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


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
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            key = _lock(self.path)
        except OSError as e:
            where = f" ({e.filename})" if e.filename and Path(e.filename) != self.path else ""
            raise RunDirError(f"cannot write the run directory {self.path}: {e.strerror or e}{where}. Choose a "
                              f"writable out=<dir> with free space.") from e
        self._release = weakref.finalize(self, _unlock, key)
        try:
            self._open(cfg_file, config, resume, overwrite, seed, may_differ)
        except BaseException:
            self._release()
            raise

    def _open(self, cfg_file: Path, config: dict, resume: bool, overwrite: bool, seed: int | None,
              may_differ: tuple[str, ...]) -> None:
        if cfg_file.exists():
            old = yaml.safe_load(cfg_file.read_text()) or {}
            ignore = VOLATILE_KEYS + tuple(may_differ if resume else ())
            diff = config_diff(_strip(old, ignore), _strip(config, ignore))
            if overwrite or (diff and _never_started(self.path)):
                _clear(self.path)
            elif diff:
                shown = ", ".join(f"{k}: {_get(old, k)!r} -> {_get(config, k)!r}" for k in diff[:12])
                raise RunDirError(
                    f"{self.path} already holds a run with a different config ({shown}"
                    f"{', …' if len(diff) > 12 else ''}). Pass overwrite=true to replace it, or choose "
                    f"another out=<dir>.")
            else:
                self.resumed = True
        elif any(p.name != LOCK_NAME for p in self.path.iterdir()):
            if not overwrite:
                raise RunDirError(f"{self.path} exists and is not a tst run directory (no config.yaml); "
                                  f"choose another out=<dir> or pass overwrite=true")
            _clear(self.path)
        try:
            write_text(cfg_file, yaml.safe_dump(config, sort_keys=False))
            write_json(self.path / "provenance.json", provenance(seed))
        except OSError as e:
            raise RunDirError(f"cannot write the run directory {self.path}: {e.strerror or e}. "
                              f"Choose a writable out=<dir> with free space.") from e

    def release(self) -> None:
        """Give up the lock now (it is also released when this object is dropped)."""
        self._release()

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
