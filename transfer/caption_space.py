"""Captions decoded under what the test space's map shows in the view, then re-ranked by it.

Why: a caption head trained on other spaces names objects from one 64-px view, and often names ones the view
does not hold. An agent in a known space also has the map's labels for the view (``space_map.read_labels``:
fused over every view of the space). Two uses, both through class names and English plurals only (nothing
here reads the captions' templates):
- ``token_bias`` steers the decoder: every word of a class the view's labels leave out (under ``min_area`` of
  its pixels) costs ``MAP_PENALTY`` in log-prob at every step of the search (``CaptionModel.beam_candidates``).
- ``rerank`` then picks among the finished hypotheses: each named class gains ``weight`` when the labels show
  it and loses ``weight`` when they do not, added to the length-normalised log-prob.

Measured on development space 0 (the demo's `tst_vit_test` heads, beam 3, 96 eval views, CIDEr through Java):
the beam 0.741; re-ranked by the map 0.799; decoded under the map with penalty 1 / 3 / 10 / a hard ban, then
re-ranked: 0.858 / **0.876** / 0.867 / 0.867 (BLEU-4 0.407 -> 0.445). A bonus for words of shown classes
(0.5 or 1) lowered BLEU-4 to ~0.37 and CIDEr to 0.79-0.80: it makes captions name walls and floors. The
semseg head's own labels in place of the map gave 0.863 at penalty 3, the views' true labels 0.979: the
better the labels, the better the captions. Re-ranking alone, earlier: never-used spaces 9-11 (demo scale)
+0.04 to +0.10; space 12 at the recipe 0.944 -> 1.002.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

MAP_PENALTY = 3.0  # log-prob cost of a word whose classes the view's labels leave out (chosen on space 0: above)
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


def token_classes(vocab: Mapping[str, int], names: Mapping[int, str]) -> dict[int, frozenset[int]]:
    """Token id -> the class ids whose name, in any of its forms, holds that token as a word (``table`` ->
    {table, coffee table}); tokens that name no class are left out."""
    words: dict[str, set[int]] = {}
    for i, n in names.items():
        if i == 0 or n.lower() in IGNORED:
            continue
        for form in word_forms(n):
            for w in form.split():
                words.setdefault(w, set()).add(i)
    return {t: frozenset(words[w.lower()]) for w, t in vocab.items() if w.lower() in words}


def token_bias(classes: Mapping[int, frozenset[int]], vocab_size: int, labels: np.ndarray, bonus: float = 0.0,
               penalty: float = 1.0, min_area: float = 0.01) -> np.ndarray:
    """Per-token log-prob offsets [V] for one view: ``+bonus`` on a word of a class the view's labels show on
    at least ``min_area`` of its pixels, ``-penalty`` on a word whose classes they all leave out."""
    shown, bias = shown_classes(labels, min_area), np.zeros(vocab_size, dtype=np.float32)
    for t, cls in classes.items():
        bias[t] = bonus if cls & shown else -penalty
    return bias
