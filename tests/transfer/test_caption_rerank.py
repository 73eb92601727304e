"""Caption hypotheses re-ranked by the classes a view's space labels show: names and plurals matched as
whole words, longer names first, the label threshold, and the trade against the beam's own score."""

import numpy as np

from tst.transfer.caption_rerank import name_patterns, named_classes, rerank, shown_classes, word_forms

NAMES = {0: "unlabelled", 1: "table", 2: "coffee_table", 3: "shelf", 4: "chair", 5: "wall", 6: "lamp", 7: "person"}
PATTERNS = name_patterns(NAMES)


def test_class_names_and_their_plurals_are_matched_as_whole_words():
    assert set(word_forms("shelf")) >= {"shelf", "shelves"} and "coffee table" in word_forms("coffee_table")
    assert named_classes("A view of a living room with two coffee tables and shelves.", PATTERNS) == {2, 3}
    assert named_classes("A coffee table next to a table.", PATTERNS) == {1, 2}  # the short name stands alone
    assert named_classes("Two armchairs and a lampshade.", PATTERNS) == set()  # not inside other words
    assert named_classes("Two PEOPLE by the Wall", PATTERNS) == {5, 7}
    assert named_classes("Nothing labelled here: unlabelled.", PATTERNS) == set()  # class 0 names nothing


def test_shown_classes_are_those_above_the_area_threshold():
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[:5] = 5  # 50 % wall
    labels[5, :2] = 4  # 2 % chair
    labels[6, 0] = 6  # 1 % lamp
    assert shown_classes(labels, 0.02) == {0, 4, 5}
    assert shown_classes(labels, 0.01) == {0, 4, 5, 6}


def test_the_hypothesis_that_agrees_with_the_labels_wins_unless_the_beam_is_far_more_sure():
    labels = np.full((8, 8), 5)
    labels[4:, :4] = 4  # wall and a chair in view
    cands = [("a lamp by the wall.", -0.20), ("a chair by the wall.", -0.50), ("a table.", -0.10)]
    assert rerank(cands, labels, PATTERNS, weight=1.0) == "a chair by the wall."  # 2 right names, none wrong
    assert rerank(cands, labels, PATTERNS, weight=0.0) == "a table."  # no weight: the beam's order
    assert rerank(cands, labels, PATTERNS, weight=0.2) == "a chair by the wall."  # -0.5 + 0.4 > -0.1 - 0.2
    assert rerank(cands, labels, PATTERNS, weight=0.05) == "a table."  # -0.1 - 0.05 > -0.2 + 0 > -0.5 + 0.1
    assert rerank([("a lamp.", -1.0), ("a shelf.", -1.0)], labels, PATTERNS) == "a lamp."  # a tie keeps the order
    assert rerank([], labels, PATTERNS) == ""
