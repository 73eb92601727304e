"""map_classes: external vocabulary -> test-space vocabulary by name, unmapped classes reported."""

import logging

import numpy as np
import pytest
import torch

from tst.transfer.class_map import apply_lut, map_classes

TEST_SPACE = {0: "unlabelled", 1: "floor", 2: "chair", 3: "table", 4: "sofa"}


def test_names_match_after_normalisation_and_synonyms(caplog):
    external = ["background", "Floor", "dining_table", "couch", "lamp", "CHAIR"]  # index = id
    with caplog.at_level(logging.WARNING):
        lut, unmapped = map_classes(external, TEST_SPACE, synonyms={"dining table": "table", "couch": "sofa"})
    assert lut.tolist() == [0, 1, 3, 4, 0, 2]  # id 0 is the ignore id on both sides
    assert unmapped == ["lamp"]
    assert "1 of 5 source classes" in caplog.text and "lamp" in caplog.text


def test_json_style_vocabularies_and_sparse_ids():
    lut, unmapped = map_classes({"7": "chair", "12": "Sofa"}, {"1": "sofa", "2": "chair"})
    assert lut.shape == (13,) and lut[7] == 2 and lut[12] == 1
    assert int(np.count_nonzero(lut)) == 2 and unmapped == []


def test_apply_lut_on_numpy_and_torch_maps_out_of_range_to_ignore():
    lut = np.array([0, 2, 0, 1])
    labels = np.array([[0, 1, 2], [3, 9, -1]])
    want = [[0, 2, 0], [1, 0, 0]]
    assert apply_lut(labels, lut).tolist() == want
    assert apply_lut(torch.from_numpy(labels), lut).tolist() == want


def test_bad_vocabularies_fail_clearly():
    with pytest.raises(ValueError, match="names 'chair' twice"):
        map_classes(["chair"], {1: "chair", 2: "Chair"})
    with pytest.raises(ValueError, match=r"synonyms point to \['armchair'\]"):
        map_classes(["seat"], TEST_SPACE, synonyms={"seat": "armchair"})
    with pytest.raises(ValueError, match="must be integer class ids"):
        map_classes({"a": "chair"}, TEST_SPACE)
    with pytest.raises(ValueError, match="source vocabulary is empty"):
        map_classes([], TEST_SPACE)
