"""Hydra configs, shipped as a package so the CLI finds them installed or from the repo.

Importing it (``tst.cli.config_dir`` does, before any compose) registers the resolvers the YAMLs use:
``${tst.size:<model name>,<field>}`` reads a model size from ``tst.models.vit.SIZES``, so a model's
patch and default image size are written once, in code. ``${tst.seeds:<first>,<count>}`` is the list
``[first, …, first + count - 1]``: the sweeps draw their external labelled spaces from dozens of
procedural seeds, which a YAML list would spell out seed by seed.
"""

from omegaconf import OmegaConf


def _model_size(name: str, field: str) -> int:
    from tst.models.vit import SIZES  # lazy: composing a config needs no torch until a model is asked for

    if name not in SIZES:
        raise KeyError(f"model.name={name!r} is not a tst model; valid names: {sorted(SIZES)} (tst/models/vit.py SIZES)")
    return SIZES[name][field]


def _seeds(first: int, count: int) -> list[int]:
    if int(count) < 1:
        raise ValueError(f"${{tst.seeds:{first},{count}}}: count must be >= 1 (how many consecutive seeds)")
    return list(range(int(first), int(first) + int(count)))


if not OmegaConf.has_resolver("tst.seeds"):
    OmegaConf.register_new_resolver("tst.seeds", _seeds)
if not OmegaConf.has_resolver("tst.size"):
    OmegaConf.register_new_resolver("tst.size", _model_size)
