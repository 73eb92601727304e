"""Hydra configs, shipped as a package so the CLI finds them installed or from the repo.

Importing it (``tst.cli.config_dir`` does, before any compose) registers the resolvers the YAMLs use:
``${tst.size:<model name>,<field>}`` reads a model size from ``tst.models.vit.SIZES``, so a model's
patch and default image size are written once, in code.
"""

from omegaconf import OmegaConf


def _model_size(name: str, field: str) -> int:
    from tst.models.vit import SIZES  # lazy: composing a config needs no torch until a model is asked for

    if name not in SIZES:
        raise KeyError(f"model.name={name!r} is not a tst model; valid names: {sorted(SIZES)} (tst/models/vit.py SIZES)")
    return SIZES[name][field]


if not OmegaConf.has_resolver("tst.size"):
    OmegaConf.register_new_resolver("tst.size", _model_size)
