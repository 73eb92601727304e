"""tst: test-space training.

The stage folders of the repository install as sub-packages of this one: ``tst.envs``,
``tst.collect``, ``tst.pretrain``, ``tst.transfer`` (see pyproject.toml).

``from tst import Perception`` (contract) is the perception plugin of ``tst.transfer.perception``;
it is imported lazily so that ``import tst`` stays light (no torch until it is asked for).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Perception", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Perception":
        from tst.transfer.perception import Perception

        return Perception
    raise AttributeError(f"module 'tst' has no attribute {name!r}")
