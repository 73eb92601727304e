"""The canonical class vocabulary of tst: one list shared by every procedural apartment.

Every synth seed uses the same ``SYNTH_CLASSES`` table, so class id ``k`` means the same thing in
the test space and in the "other spaces" used as external labelled data. Datasets that spell a
class differently ("couch", "television", "refrigerator") are mapped onto ours by name with
``canonical_name``; names we cannot map stay as they are and the caller decides (usually -> 0).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping

import numpy as np

from tst.envs.scene import UNLABELLED, Scene

log = logging.getLogger(__name__)

# class id -> name. Append only: ids are stored in shards and checkpoints, so never reorder.
SYNTH_CLASSES: list[str] = [
    UNLABELLED,
    # structure
    "wall", "floor", "ceiling", "door", "window",
    # furniture
    "bed", "sofa", "chair", "table", "desk", "cabinet", "shelf", "nightstand", "wardrobe",
    "counter", "rug",
    # appliances and fixtures
    "lamp", "tv", "fridge", "oven", "sink", "toilet", "bathtub", "mirror",
    # decoration
    "plant", "picture",
    # clutter, placed on surfaces
    "book", "cup", "bottle", "vase", "bowl", "laptop", "pillow",
]

# Room types the generator lays out; the first four appear in every apartment of >= 4 rooms.
ROOM_TYPES: list[str] = ["living room", "bedroom", "kitchen", "bathroom", "office", "hallway"]

# Classes that make up the building rather than its contents (excluded from object statistics).
STRUCTURE_CLASSES: tuple[str, ...] = ("wall", "floor", "ceiling", "door", "window")

# Classes that rest on other objects' surfaces instead of on the floor.
CLUTTER_CLASSES: tuple[str, ...] = ("book", "cup", "bottle", "vase", "bowl", "laptop", "pillow")

# Other datasets' names (lower case) -> our canonical name.
SYNONYMS: dict[str, str] = {
    "couch": "sofa", "settee": "sofa", "armchair": "chair", "office chair": "chair", "stool": "chair",
    "television": "tv", "tv monitor": "tv", "tvmonitor": "tv", "monitor": "tv", "tv screen": "tv",
    "refrigerator": "fridge", "stove": "oven", "microwave": "oven", "cooktop": "oven",
    "dining table": "table", "coffee table": "table", "side table": "table", "end table": "table",
    "night stand": "nightstand", "bedside table": "nightstand", "closet": "wardrobe",
    "bookshelf": "shelf", "bookcase": "shelf", "shelves": "shelf", "kitchen cabinet": "cabinet",
    "cupboard": "cabinet", "dresser": "cabinet", "chest of drawers": "cabinet", "tv stand": "cabinet",
    "countertop": "counter", "kitchen counter": "counter", "worktop": "counter",
    "carpet": "rug", "mat": "rug", "floor lamp": "lamp", "table lamp": "lamp", "desk lamp": "lamp",
    "light": "lamp", "potted plant": "plant", "pottedplant": "plant", "houseplant": "plant",
    "painting": "picture", "poster": "picture", "frame": "picture", "wall art": "picture",
    "washbasin": "sink", "basin": "sink", "bathroom sink": "sink", "kitchen sink": "sink",
    "tub": "bathtub", "bath": "bathtub", "wc": "toilet", "toilet seat": "toilet",
    "doorframe": "door", "door frame": "door", "window frame": "window", "blinds": "window",
    "books": "book", "mug": "cup", "glass": "cup", "wine glass": "cup", "flowerpot": "vase",
    "notebook": "laptop", "computer": "laptop", "cushion": "pillow", "floor mat": "rug",
    "wall": "wall", "floor": "floor", "ceiling": "ceiling", "unknown": UNLABELLED,
    "background": UNLABELLED, "void": UNLABELLED, "undefined": UNLABELLED,
    # ScanNet / ScanNet++ / Replica spellings
    "kitchen cabinets": "cabinet",
    "storage cabinet": "cabinet", "file cabinet": "cabinet", "bathroom cabinet": "cabinet",
    "wall cabinet": "cabinet", "bathroom vanity": "cabinet", "sofa chair": "chair", "desk chair": "chair",
    "bar stool": "chair", "stools": "chair", "seat": "chair", "night table": "nightstand", "bedside cabinet": "nightstand",
    "study desk": "desk", "computer desk": "desk", "writing desk": "desk", "indoor plant": "plant",
    "plant pot": "plant", "computer monitor": "tv", "screen": "tv",
    "fridge freezer": "fridge", "mini fridge": "fridge", "oven range": "oven", "range hood": "oven",
    "bath tub": "bathtub", "toilet bowl": "toilet", "sink cabinet": "sink", "vanity sink": "sink",
    "book shelf": "shelf", "wall shelf": "shelf", "shelving": "shelf", "closet door": "door",
    "photo": "picture", "picture frame": "picture", "canvas": "picture", "wall lamp": "lamp",
    "ceiling lamp": "lamp", "ceiling light": "lamp", "lamp shade": "lamp", "pillows": "pillow",
    "throw pillow": "pillow", "sofa cushion": "pillow", "doormat": "rug", "bath mat": "rug",
    "window blind": "window", "windowsill": "window", "window sill": "window", "floor carpet": "rug",
    # AI2-THOR objectTypes, CamelCase split by the thor loader (ArmChair -> "arm chair")
    "arm chair": "chair", "counter top": "counter", "house plant": "plant", "shelving unit": "shelf",
    "sink basin": "sink", "bathtub basin": "bathtub", "stove burner": "oven", "wine bottle": "bottle",
    "doorway": "door",
}

# Spelling variants of classes OUTSIDE our vocabulary (kept by loaders that keep their own classes,
# e.g. ScanNet++'s "trash can"); SYNONYMS only ever lands in SYNTH_CLASSES.
SPELLINGS: dict[str, str] = {
    "trashcan": "trash can", "garbage can": "trash can", "garbage bin": "trash can", "trash bin": "trash can",
    "recycling bin": "trash can", "wastebasket": "trash can", "wall plug": "socket", "power socket": "socket",
    "comforter": "blanket", "duvet": "blanket",
    # AI2-THOR spellings of ScanNet++ classes
    "curtains": "curtain", "faucet": "tap", "alarm clock": "clock", "paper towel roll": "paper towel",
}


def canonical_name(name: str) -> str:
    """Our spelling of a class name: lower case, ``_``/``-`` as spaces, synonyms resolved.

    Names that are neither ours nor a known synonym are returned normalised but unchanged, so the
    caller can decide whether an unknown class maps to 0 or is an error.
    """
    key = " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())
    if key in SYNTH_CLASSES:
        return key
    if key in SYNONYMS:
        return SYNONYMS[key]
    if key in SPELLINGS:
        return SPELLINGS[key]
    if key.endswith("s") and key[:-1] in SYNTH_CLASSES:  # plural: "chairs", "plants"
        return key[:-1]
    return key


def to_canonical(scene: Scene, label_map: Mapping[str, str] | None = None,
                 extra: Iterable[str] | None = None, where: str = "") -> Scene:
    """``scene`` with its class names mapped onto the canonical vocabulary (ids of ``SYNTH_CLASSES``).

    Every dataset name goes through ``label_map`` (raw name -> class name; it wins) or else
    ``canonical_name`` (synonyms). Names that land outside ``SYNTH_CLASSES`` are kept as extra classes
    (appended) when ``extra`` is None or lists them (canonical spelling), else they become unlabelled.
    Both kinds are reported in one log line with their face counts, so a user sees what to add to
    ``label_map`` (``scene.label_map={raw: class}``).
    """
    lmap = {canonical_name(str(k)): str(v) for k, v in (label_map or {}).items()}
    keep = None if extra is None else {canonical_name(e) for e in extra}
    targets = [canonical_name(lmap.get(canonical_name(n), n)) for n in scene.class_names]
    names = list(SYNTH_CLASSES)
    for t in targets[1:]:
        if t not in names and t != UNLABELLED and (keep is None or t in keep or t in
                                                    {canonical_name(v) for v in lmap.values()}):
            names.append(t)
    lut = np.array([0] + [names.index(t) if t in names else 0 for t in targets[1:]], np.int32)
    faces = np.bincount(scene.face_class, minlength=len(scene.class_names))  # [C] faces per raw class
    dropped = {scene.class_names[i]: int(faces[i]) for i, t in enumerate(targets)
               if i > 0 and lut[i] == 0 and t != UNLABELLED and faces[i] > 0}
    extras = {scene.class_names[i]: int(faces[i]) for i, t in enumerate(targets)
              if i > 0 and lut[i] >= len(SYNTH_CLASSES) and faces[i] > 0}
    where = where or scene.source or scene.scene_id
    if dropped:
        total = int(faces[1:].sum())
        log.warning("%s: %d of %d labelled faces have a class outside the vocabulary and become %r "
                    "(map them with scene.label_map={raw: class}): %s", where, sum(dropped.values()), total,
                    UNLABELLED, dict(sorted(dropped.items(), key=lambda kv: -kv[1])))
    if extras:
        log.info("%s: classes kept beyond the canonical vocabulary (faces): %s", where,
                 dict(sorted(extras.items(), key=lambda kv: -kv[1])))
    return dataclasses.replace(scene, class_names=names, instance_class=lut[scene.instance_class]).validate()


def synth_class_id(name: str) -> int:
    """Id of a class in ``SYNTH_CLASSES`` (after ``canonical_name``); fails listing the vocabulary."""
    key = canonical_name(name)
    try:
        return SYNTH_CLASSES.index(key)
    except ValueError:
        raise KeyError(f"class {name!r} (canonical {key!r}) is not in SYNTH_CLASSES: {SYNTH_CLASSES}") from None
