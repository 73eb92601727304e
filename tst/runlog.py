"""Run logging: a JSONL file in the run directory always, wandb (offline by default) when asked.

Library code takes a ``RunLogger`` argument; only entry points build one from the ``logger`` config
group (``logger=wandb`` / ``logger=none``). Progress bars are separate (tqdm) so logs stay parseable.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class RunLogger:
    """Append ``{"step": s, "time": t, **values}`` lines to ``log.jsonl``; mirror to wandb if enabled."""

    def __init__(self, run_dir: str | Path, kind: str = "none", project: str = "tst", name: str | None = None,
                 config: dict | None = None, mode: str = "offline") -> None:
        if kind not in ("none", "wandb"):
            raise ValueError(f"unknown logger {kind!r}; choose logger=none or logger=wandb")
        self.path = Path(run_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", buffering=1)
        self._wandb = None
        if kind == "wandb":
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            self._wandb = wandb.init(project=project, name=name, config=config, dir=str(run_dir), mode=mode,
                                     reinit="finish_previous")

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        row = {"step": step, "time": round(time.time(), 3), **values}
        self._fh.write(json.dumps(row, default=float) + "\n")
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def drop_after(self, step: int) -> None:
        """Forget rows past ``step``: a run resumed from its step-``step`` checkpoint replays those
        steps and logs them again, and a reader plotting the file would get a zig-zag."""
        self._fh.flush()
        rows = self.path.read_text().splitlines(keepends=True)
        keep = [r for r in rows if _step(r) <= step]
        if len(keep) != len(rows):
            from tst.atomic import write_text

            self._fh.close()
            write_text(self.path, "".join(keep))
            self._fh = open(self.path, "a", buffering=1)

    def log_images(self, images: dict[str, str | Path | list[str | Path]], step: int | None = None) -> None:
        """Mirror pictures a stage already wrote (previews, predictions, overlays, plots) to wandb as
        ``wandb.Image`` (a list of files under one key becomes one panel). The files stay where they
        are; ``log.jsonl`` keeps scalars only, so nothing is written without wandb."""
        if self._wandb is None or not images:
            return
        import wandb

        def image(p: str | Path) -> wandb.Image:
            if not Path(p).is_file():
                raise FileNotFoundError(f"cannot log image {p}: the file does not exist")
            return wandb.Image(str(p), caption=Path(p).stem)

        self._wandb.log({k: [image(p) for p in v] if isinstance(v, (list, tuple)) else image(v)
                         for k, v in images.items()}, step=step)

    def summary(self, values: dict[str, Any]) -> None:
        if self._wandb is not None:
            self._wandb.summary.update(values)

    def close(self) -> None:
        self._fh.close()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _step(row: str) -> float:
    """A log row's step (0 when it has none); a line cut short by a kill counts as past every step."""
    try:
        return json.loads(row).get("step") or 0
    except ValueError:
        return float("inf")


def make_logger(cfg: Any, run_dir: str | Path, name: str | None = None) -> RunLogger:
    """Build from a stage config's ``logger`` group (its ``_target_``, else RunLogger; ``kind``, ``project``, ``mode``)."""
    from omegaconf import OmegaConf

    from tst.build import build

    lg = cfg.get("logger") or {"kind": "none"}
    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    lg = OmegaConf.to_container(lg, resolve=True) if OmegaConf.is_config(lg) else dict(lg)
    return build({"_target_": "tst.runlog.RunLogger", **lg}, run_dir=run_dir, name=name, config=config)
