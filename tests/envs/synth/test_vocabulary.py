"""The shared class vocabulary and the name mapping other datasets go through."""

import pytest

from tst.envs.scene import UNLABELLED
from tst.envs.synth.generator import generate_apartment
from tst.envs.vocabulary import (
    CLUTTER_CLASSES,
    ROOM_TYPES,
    STRUCTURE_CLASSES,
    SYNONYMS,
    SYNTH_CLASSES,
    canonical_name,
    synth_class_id,
)

REQUIRED = ["bed", "sofa", "chair", "table", "desk", "cabinet", "shelf", "lamp", "tv", "plant", "rug", "picture",
            "toilet", "sink", "bathtub", "fridge", "oven", "counter", "door", "window", "wall", "floor", "ceiling",
            "book", "cup", "bottle", "vase"]


def test_vocabulary_shape():
    assert SYNTH_CLASSES[0] == UNLABELLED
    assert len(set(SYNTH_CLASSES)) == len(SYNTH_CLASSES)
    assert set(REQUIRED) <= set(SYNTH_CLASSES)
    assert set(STRUCTURE_CLASSES) | set(CLUTTER_CLASSES) <= set(SYNTH_CLASSES)
    assert set(SYNONYMS.values()) <= set(SYNTH_CLASSES)  # every synonym lands in the vocabulary
    assert {"living room", "bedroom", "kitchen", "bathroom"} <= set(ROOM_TYPES)


def test_ids_are_stable_across_seeds():
    a, b = generate_apartment(0), generate_apartment(7)
    assert a.class_names == b.class_names == SYNTH_CLASSES
    assert a.class_id("sofa") == b.class_id("sofa") == SYNTH_CLASSES.index("sofa")


@pytest.mark.parametrize("name,expected", [
    ("couch", "sofa"), ("Television", "tv"), ("refrigerator", "fridge"), ("TV_monitor", "tv"),
    ("potted-plant", "plant"), ("  Dining   Table ", "table"), ("chairs", "chair"), ("sofa", "sofa"),
    ("bedside table", "nightstand"), ("void", UNLABELLED), ("spaceship", "spaceship")])
def test_canonical_name(name, expected):
    assert canonical_name(name) == expected


def test_class_id_fails_listing_the_vocabulary():
    assert synth_class_id("Couch") == SYNTH_CLASSES.index("sofa")
    with pytest.raises(KeyError, match="SYNTH_CLASSES.*unlabelled"):
        synth_class_id("spaceship")
