"""``build(node, **kwargs)``: the object a config group option names by ``_target_`` (model, logger,
launcher), called with the option's other keys and the runtime arguments (those win).

Not Hydra's ``instantiate``: that would recurse into the arguments (a run's whole config, scene
``_target_`` s included, is one of the logger's), reserve the name ``config`` and wrap the target's own
error, while a refusal here (a ValueError naming the field and the fix) must reach the user as one line.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import get_object
from omegaconf import OmegaConf


def build(node: Any, /, **kwargs: Any) -> Any:
    spec = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node or {})
    target = spec.pop("_target_", None)
    if not target:
        raise ValueError(f"config node {spec} has no _target_ naming what to build; use one of its group's "
                         f"options (configs/<group>/*.yaml)")
    return get_object(target)(**{**spec, **kwargs})
