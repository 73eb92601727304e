"""``tst <stage> [hydra overrides…]``: the one command line of the project (contract).

Each stage is a ``run(cfg) -> dict`` function and a primary config ``configs/<stage>.yaml``; this
module only maps the stage name to both and hands the remaining arguments to Hydra, so multirun
(``-m``), ``--cfg job`` and every other Hydra flag work as usual.
"""

from __future__ import annotations

import difflib
import importlib
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
    "augment": ("augment", "tst.collect.augment:run"),  # also spelled `tst collect augment …`
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
        fn(cfg)

    _app.__name__ = stage  # Hydra names the job (and its log file) after the function
    sys.argv = [f"tst-{stage}", *rest]
    hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=STAGES[stage][0])(_app)()


if __name__ == "__main__":
    main()
