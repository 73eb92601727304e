"""The one rule for turning a ``device=`` setting into a ``torch.device``.

Every stage, the perception plugin and the torchrun setup read ``device=`` through
:func:`resolve_device`, so a spelling accepted by one is accepted by all and a bad one fails the same
way everywhere, naming the valid forms.
"""

from __future__ import annotations

import re

import torch

FORMS = "choose auto, cpu or cuda (or cuda:N for the N-th GPU)"
_CUDA_N = re.compile(r"cuda:(\d+)")


class DeviceError(ValueError, RuntimeError):
    """A ``device=`` that is misspelt or names hardware this machine does not have.

    Both a ValueError (bad setting) and a RuntimeError (what callers of the torchrun setup caught)."""


def resolve_device(spec: str | torch.device) -> torch.device:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cpu``; ``cuda``; ``cuda:N``.

    ``cuda`` carries no index (torch's current device); a ``cuda:N`` beyond the GPUs torch sees fails."""
    text = str(spec).strip()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    index = _CUDA_N.fullmatch(text)
    if text != "cuda" and index is None:
        raise DeviceError(f"device={text!r} is invalid; {FORMS}")
    if not torch.cuda.is_available():
        raise DeviceError(f"device={text!r} but torch sees no CUDA device here; use device=cpu or device=auto")
    if index is not None and int(index.group(1)) >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise DeviceError(f"device={text!r} but torch sees {n} GPU(s) here (cuda:0 to cuda:{n - 1}); "
                          f"pick one of those, or device=cuda / device=auto")
    return torch.device(text)
