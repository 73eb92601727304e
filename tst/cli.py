"""``tst <stage> [hydra overrides…]``: the one command line of the project (contract).

Each stage is a ``run(cfg) -> dict`` function and a primary config ``configs/<stage>.yaml``; this
module only maps the stage name to both and hands the remaining arguments to Hydra, so multirun
(``-m``), ``--cfg job`` and every other Hydra flag work as usual.

A refusal (our own errors, and the ValueError / KeyError / OSError / FloatingPointError that bad input
raises with a message naming the field and the fix) ends the process with that message as one last
line and exit code 1, without Hydra's traceback above it; ``HYDRA_FULL_ERROR=1`` shows the traceback.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from importlib import resources
from pathlib import Path

# stage -> (config name, "module:function")
STAGES: dict[str, tuple[str, str]] = {
    "collect": ("collect", "tst.collect.run:run"),
    "pretrain": ("pretrain", "tst.pretrain.run:run"),
    "transfer": ("transfer", "tst.transfer.run:run"),
    "deploy": ("deploy", "tst.transfer.deploy:run"),
    "sweep": ("sweep", "tst.sweep:run"),
    "report": ("report", "tst.report:run"),
    "preview": ("preview", "tst.collect.preview:run"),
    "augment": ("augment", "tst.collect.pseudo_labels:run"),  # also spelled `tst collect augment …`
    "export": ("export", "tst.envs.export:run"),
}


def config_dir() -> Path:
    """The Hydra config root, installed (``tst.configs``) or in the repository."""
    return Path(str(resources.files("tst.configs")))


def _usage() -> str:
    return "usage: tst <stage> [hydra overrides…]\nstages: " + ", ".join(STAGES) + \
        "\nexample: tst collect scene=synth scene.seed=3 frames=64 out=runs/my_collect"


def load_stage(stage: str):
    if stage not in STAGES:
        close = difflib.get_close_matches(stage, STAGES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SystemExit(f"unknown stage {stage!r}{hint}\n{_usage()}")
    module, fn = STAGES[stage][1].split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("tst."):
            raise SystemExit(f"stage {stage!r} is not available in this version of tst ({e.name} is missing)") from e
        raise
    return getattr(mod, fn)


# Builtin errors that bad input raises with a message; any exception class defined in tst counts too.
_REFUSALS = (ValueError, KeyError, OSError, FloatingPointError)


def is_refusal(e: BaseException) -> bool:
    """An error whose message is the whole story (bad input, an unusable file): no traceback needed."""
    return isinstance(e, _REFUSALS) or type(e).__module__.split(".")[0] == "tst"


def refusal_line(stage: str, e: BaseException) -> str:
    """``tst <stage>: <message>`` on one line (a KeyError's message without its repr quotes)."""
    msg = e.args[0] if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
    return f"tst {stage}: " + " ".join(msg.split()) if msg else f"tst {stage}: {type(e).__name__}"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    stage, rest = argv[0], argv[1:]
    if stage == "collect" and rest[:1] == ["augment"]:  # `tst collect augment data=… labeller=…`
        stage, rest = "augment", rest[1:]
    fn = load_stage(stage)

    import hydra
    from omegaconf import DictConfig

    def _app(cfg: DictConfig) -> None:
        try:
            fn(cfg)
        except Exception as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or not is_refusal(e):
                raise
            raise SystemExit(refusal_line(stage, e)) from None  # Hydra reports Exceptions, not SystemExit

    _app.__name__ = stage  # Hydra names the job (and its log file) after the function
    sys.argv = [f"tst-{stage}", *rest]
    hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=STAGES[stage][0])(_app)()


if __name__ == "__main__":
    main()
