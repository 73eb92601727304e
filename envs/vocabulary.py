"""The canonical class vocabulary of tst: one list shared by every procedural apartment.

Every synth seed uses the same ``SYNTH_CLASSES`` table, so class id ``k`` means the same thing in
the test space and in the "other spaces" used as external labelled data. Datasets that spell a
class differently ("couch", "television", "refrigerator") are mapped onto ours by name with
``canonical_name``; names we cannot map stay as they are and the caller decides (usually -> 0).
"""

from __future__ import annotations

from tst.envs.scene import UNLABELLED

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
    if key.endswith("s") and key[:-1] in SYNTH_CLASSES:  # plural: "chairs", "plants"
        return key[:-1]
    return key


def synth_class_id(name: str) -> int:
    """Id of a class in ``SYNTH_CLASSES`` (after ``canonical_name``); fails listing the vocabulary."""
    key = canonical_name(name)
    try:
        return SYNTH_CLASSES.index(key)
    except ValueError:
        raise KeyError(f"class {name!r} (canonical {key!r}) is not in SYNTH_CLASSES: {SYNTH_CLASSES}") from None
