"""Caption hypotheses re-ranked by what the test space's map shows in the view.

Why: a caption head trained on other spaces names objects from one 64-px view, and its beam search often
holds a hypothesis that names the right ones below one that names the wrong ones. An agent in a known
space also has the map's labels for the view (``space_map.read_labels``: fused over every view of the
space). Each hypothesis names a set of the map's classes (its words, plurals included); it gains
``weight`` for every named class the view's labels show on at least ``min_area`` of its pixels and loses
``weight`` for every named class they do not. The best total of the beam's length-normalised log-prob
and that term wins. Nothing here reads the captions' templates: only class names and English plurals.

Measured on development space 0 (the demo's `tst_vit_test` heads, 96 eval views, CIDEr through Java): beam 3
0.741 -> 0.799 re-ranked by the map's labels (0.803 by the semseg head's own labels: at this scale the map
and the head agree); the weight did not matter between 0.25 and 2. A beam of 8 scored lower (0.629 -> 0.749).
Never-used spaces 9-11 (demo scale): +0.04 to +0.10; space 12 at the recipe: 0.944 -> 1.002, where the head's
own labels gave 1.000 although the map beat the head by 6.9 mIoU. What it buys is consistency between the heads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

IGNORED = ("unlabelled", "unlabeled", "background")  # classes no caption names


def word_forms(name: str) -> list[str]:
    """A class name as captions write it (``coffee_table`` -> ``coffee table``) and its English plurals."""
    w = name.replace("_", " ").strip().lower()
    forms = {w, w + "s", w + "es"}
    if w.endswith("y"):
        forms.add(w[:-1] + "ies")
    if w.endswith("f"):
        forms.add(w[:-1] + "ves")
    if w.endswith("fe"):
        forms.add(w[:-2] + "ves")
    if w.endswith("person"):
        forms.add(w[: -len("person")] + "people")
    return sorted(forms, key=len, reverse=True)


def name_patterns(names: Mapping[int, str]) -> dict[int, re.Pattern]:
    """Class id -> a whole-word pattern of its name's forms (id 0 and unlabelled classes left out), longest
    names first: the order ``named_classes`` matches them in."""
    return _patterns(tuple(sorted(names.items())))


@lru_cache(maxsize=8)  # one vocabulary per deployed map head: compiled once, not per view
def _patterns(names: tuple[tuple[int, str], ...]) -> dict[int, re.Pattern]:
    kept = sorted(((i, n) for i, n in names if i != 0 and n.lower() not in IGNORED), key=lambda x: -len(x[1]))
    return {i: re.compile(r"\b(?:" + "|".join(re.escape(f) for f in word_forms(n)) + r")\b") for i, n in kept}


def named_classes(text: str, patterns: Mapping[int, re.Pattern]) -> set[int]:
    """The class ids a caption names. A longer name that contains a shorter one (``coffee table`` and
    ``table``) claims its words first, so the shorter one counts only where it stands alone."""
    rest, found = " " + text.lower() + " ", set()
    for i, pat in patterns.items():
        if pat.search(rest):
            found.add(i)
            rest = pat.sub(" ", rest)
    return found


def shown_classes(labels: np.ndarray, min_area: float) -> set[int]:
    """Class ids covering at least ``min_area`` of a view's labels [H, W]."""
    ids, counts = np.unique(labels, return_counts=True)
    return {int(i) for i, c in zip(ids, counts) if c >= min_area * labels.size}


def rerank(candidates: Sequence[tuple[str, float]], labels: np.ndarray, patterns: Mapping[int, re.Pattern],
           weight: float = 1.0, min_area: float = 0.01) -> str:
    """The caption among ``candidates`` ((text, normalised log-prob), best first) that best agrees with the
    view's space labels; ties keep the beam's order."""
    if not candidates:
        return ""
    shown = shown_classes(labels, min_area)

    def total(c: tuple[str, float]) -> float:
        named = named_classes(c[0], patterns)
        return c[1] + weight * (len(named & shown) - len(named - shown))

    return max(candidates, key=total)[0]
