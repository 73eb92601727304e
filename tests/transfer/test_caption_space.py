"""Captions against a view's space labels: names and plurals matched as whole words, longer names first, the
label threshold, the re-ranking's trade against the beam's own score, and the word bias that steers decoding."""

import numpy as np

from tst.transfer.caption_space import (
    name_patterns,
    named_classes,
    rerank,
    shown_classes,
    token_bias,
    token_classes,
    word_forms,
)

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


def test_token_bias_rewards_words_of_shown_classes_and_penalises_words_of_absent_ones():
    vocab = {"[PAD]": 0, "a": 4, "table": 5, "tables": 6, "coffee": 7, "shelves": 8, "chair": 9, "wall": 10,
             "unlabelled": 11}
    classes = token_classes(vocab, NAMES)
    assert classes == {5: {1, 2}, 6: {1, 2}, 7: {2}, 8: {3}, 9: {4}, 10: {5}}  # "table" is in "coffee table" too
    labels = np.full((10, 10), 5)  # wall …
    labels[:3, :3] = 2  # … and a coffee table on 9 %
    labels[9, 9] = 4  # a chair on 1 % of the pixels: under min_area=0.02
    bias = token_bias(classes, 12, labels, bonus=0.5, penalty=2.0, min_area=0.02)
    assert bias.shape == (12,) and bias.dtype == np.float32
    assert bias.tolist() == [0, 0, 0, 0, 0, 0.5, 0.5, 0.5, -2.0, -2.0, 0.5, 0]  # words of no class: 0
    assert token_bias(classes, 12, labels, min_area=0.01)[9] == 0.0  # the chair counts at 1 %: no penalty
