"""Progress bars with an ETA for every long stage loop (tqdm), silent when nobody is watching.

A bar is drawn only when its stream (stderr) is a terminal: in a log file, a sweep job's log or CI
the bar would be thousands of carriage-return lines, so there it is off and the stage's own log
lines (printed through ``say`` so they never tear a bar) are all that appears. ``progress=false``
turns bars off on a terminal too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str, unit: str = "it",
        initial: int = 0, enabled: bool = True, **kwargs: Any) -> tqdm:
    """tqdm with elapsed / remaining time; ``disable=None`` is tqdm's "only on a TTY"."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=None if enabled else True,
                dynamic_ncols=True, **kwargs)


def say(line: str) -> None:
    """Print a log line to stdout above any bar in progress (plain print when none is drawn)."""
    tqdm.write(line)
