"""AI2-THOR scenes (``scene=thor``) as proxy box scenes with THOR's real classes and layout.

Why proxies: the Unity build that renders THOR needs a display or a Vulkan GPU and a download, but
its *object metadata* (``event.metadata["objects"]``: type, id, position, rotation and axis-aligned
/ oriented bounding boxes) is plain JSON. Every object becomes one closed (oriented) box, labelled
with its ``objectType``, inside an inferred room shell, so THOR floor plans can be collected,
rendered and labelled by the default CPU renderer.

Where the metadata comes from (``load_thor``):
- ``metadata=<file.json>``: a user's dump, either the objects list or a whole ``event.metadata``
  dict (then ``sceneBounds`` and ``sceneName`` are used too);
- otherwise the Apache-2.0 ``procthor`` package (``pip install 'tst[thor]'``), whose
  ``databases/ai2thor-object-metadata.json`` holds the objects of all 120 iTHOR floor plans and the
  75 RoboTHOR ones, as lists in floor-plan order (verified against the ``scenes`` field of its asset
  database: see tests/envs/test_thor.py);
- ``source="live"``: a running ``ai2thor`` controller (needs ai2thor, a display or CloudRendering,
  and the build download); its metadata goes through the same builder.

Classes: ``objectType`` split into lower-case words (``CounterTop`` -> ``counter top``, ``TVStand`` ->
``tv stand``), then mapped like every other loader's names through ``scene.label_map`` (wins) or the
canonical vocabulary's synonyms (``tst.envs.vocabulary.to_canonical``: counter top -> counter, tv stand
-> cabinet, Television -> tv, GarbageCan -> trash can), so class id ``k`` means the same class as in the
procedural apartments. THOR types outside the vocabulary (toaster, drawer, trash can, ...) are kept
as extra classes after the canonical ones, in a fixed order, and logged with their face counts. The
shell adds ``floor`` (same as THOR's ``Floor``), ``ceiling`` and ``wall``. Without a label_map every
floor plan has the same ``THOR_CLASSES``, so ids agree across scenes; an objectType missing from
``THOR_OBJECT_TYPES`` (a newer THOR release) is appended after them. Axis mapping: see thor_boxes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from tst.envs.loaders.thor_boxes import box_mesh, shell_quads, thor_to_zup, vec3
from tst.envs.scene import UNLABELLED, Room, Scene
from tst.envs.vocabulary import SYNTH_CLASSES, canonical_name, to_canonical

THOR_OBJECT_TYPES = (
    "AlarmClock AluminumFoil Apple AppleSliced ArmChair BaseballBat BasketBall Bathtub BathtubBasin Bed "
    "Blinds Book Boots Bottle Bowl Box Bread BreadSliced ButterKnife CD Cabinet Candle CellPhone Chair "
    "Cloth CoffeeMachine CoffeeTable CounterTop CreditCard Cup Curtains Desk DeskLamp Desktop DiningTable "
    "DishSponge DogBed Doorframe Doorway Drawer Dresser Dumbbell Egg EggCracked Faucet Floor FloorLamp "
    "Footstool Fork Fridge GarbageBag GarbageCan HandTowel HandTowelHolder HousePlant Kettle KeyChain Knife "
    "Ladle Laptop LaundryHamper Lettuce LettuceSliced LightSwitch Microwave Mirror Mug Newspaper Ottoman "
    "Painting Pan PaperTowelRoll Pen Pencil PepperShaker Pillow Plate Plunger Poster Pot Potato "
    "PotatoSliced RemoteControl RoomDecor Safe SaltShaker ScrubBrush Shelf ShelvingUnit ShowerCurtain "
    "ShowerDoor ShowerGlass ShowerHead SideTable Sink SinkBasin SoapBar SoapBottle Sofa Spatula Spoon "
    "SprayBottle Statue Stool StoveBurner StoveKnob TVStand TableTopDecor TeddyBear Television "
    "TennisRacket TissueBox Toaster Toilet ToiletPaper ToiletPaperHanger Tomato TomatoSliced Towel "
    "TowelHolder VacuumCleaner Vase Watch WateringCan Window WineBottle"
).split()
SHELL_CLASSES = ("floor", "ceiling", "wall")
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # CounterTop, TVStand


def class_of(object_type: str) -> str:
    """THOR ``objectType`` -> its words in lower case (``TVStand`` -> ``tv stand``), as synonyms spell them."""
    return _WORD_START.sub(" ", str(object_type)).lower()


# THOR's own names (before the vocabulary mapping), and the class list every THOR scene ends up with.
THOR_RAW_CLASSES: list[str] = [UNLABELLED, *SHELL_CLASSES,
                               *sorted({class_of(t) for t in THOR_OBJECT_TYPES} - set(SHELL_CLASSES))]
THOR_CLASSES: list[str] = [*SYNTH_CLASSES, *dict.fromkeys(
    c for c in map(canonical_name, THOR_RAW_CLASSES[1:]) if c not in SYNTH_CLASSES and c != UNLABELLED)]
WALL_MARGIN = 0.05  # m between the outermost object and an inferred wall, so wall-mounted boxes show
MIN_CEILING = 2.5  # m above the floor when the ceiling is inferred (objects rarely reach it)
SHELL_COLORS = {"floor": (150, 120, 90), "ceiling": (235, 235, 230), "wall": (205, 198, 185)}

# procthor's metadata lists, in order: (list key, room type, floor-plan names).
_ROBOTHOR = ([f"FloorPlan_Train{i}_{j}" for i in range(1, 13) for j in range(1, 6)]
             + [f"FloorPlan_Val{i}_{j}" for i in range(1, 4) for j in range(1, 6)])
PROCTHOR_GROUPS = (
    ("kitchens", "kitchen", [f"FloorPlan{i}" for i in range(1, 31)]),
    ("living_rooms", "living room", [f"FloorPlan{i}" for i in range(201, 231)]),
    ("bedrooms", "bedroom", [f"FloorPlan{i}" for i in range(301, 331)]),
    ("bathrooms", "bathroom", [f"FloorPlan{i}" for i in range(401, 431)]),
    ("robothor", "apartment", _ROBOTHOR),
)
FLOOR_PLANS = {n: (key, room, i) for key, room, names in PROCTHOR_GROUPS for i, n in enumerate(names)}
_VALID_NAMES = ("FloorPlan1..30 (kitchens), FloorPlan201..230 (living rooms), FloorPlan301..330 "
                "(bedrooms), FloorPlan401..430 (bathrooms), FloorPlan_Train1_1..FloorPlan_Train12_5, "
                "FloorPlan_Val1_1..FloorPlan_Val3_5 (RoboTHOR)")


def load_thor(name: str = "FloorPlan1", source: str = "offline", metadata: str | None = None,
              label_map: Mapping[str, str] | None = None) -> Scene:
    """An AI2-THOR floor plan as a validated proxy ``Scene`` (see the module docstring).

    ``label_map``: {THOR objectType or its words: class name}, applied before the synonyms (it wins).
    """
    if source == "live":
        if metadata is not None:
            raise ValueError("scene.metadata is only read with scene.source=offline; drop it or the live source")
        meta, origin = live_metadata(name), f"ai2thor live controller, scene {name}"
    elif source == "offline":
        if metadata is not None:
            meta, origin = read_thor_metadata(metadata), f"THOR metadata {metadata}"
        else:
            meta, origin = procthor_metadata(name), f"procthor databases/ai2thor-object-metadata.json, {name}"
    else:
        raise ValueError(f"scene.source must be 'offline' or 'live', got {source!r}")
    scene_id = str(meta.get("sceneName") or name)
    room = FLOOR_PLANS.get(scene_id, (None, "room", None))[1]
    return thor_scene(meta["objects"], scene_bounds=meta.get("sceneBounds"), scene_id=scene_id,
                      source=f"AI2-THOR proxy boxes from {origin}", room_type=room, label_map=label_map)


def read_thor_metadata(path: str | Path) -> dict:
    """A user's JSON dump: ``event.metadata`` (a dict with "objects") or the objects list itself."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"THOR metadata file {p} does not exist; expected a JSON dump of "
                                f"event.metadata or of event.metadata['objects'] (scene.metadata=<path>)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"THOR metadata file {p} is not valid JSON: {e}") from e
    if isinstance(data, list):
        data = {"objects": data}
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise ValueError(f"THOR metadata file {p}: expected a list of objects or a dict with an 'objects' "
                         f"list (event.metadata), got {type(data).__name__} with keys "
                         f"{sorted(data)[:10] if isinstance(data, dict) else '-'}")
    for i, o in enumerate(data["objects"]):
        if not isinstance(o, dict) or "objectType" not in o:
            raise ValueError(f"THOR metadata file {p}: objects[{i}] has no 'objectType'; each object needs "
                             f"objectType, objectId and axisAlignedBoundingBox or objectOrientedBoundingBox")
    return data


@lru_cache(maxsize=1)
def _procthor_database() -> dict:
    try:
        path = importlib.resources.files("procthor") / "databases" / "ai2thor-object-metadata.json"
    except ModuleNotFoundError:
        raise RuntimeError("scene=thor without scene.metadata reads the floor plans shipped by the procthor "
                           "package, which is not installed: pip install 'tst[thor]' (or procthor==0.0.1.dev2), "
                           "or pass scene.metadata=<a JSON dump of event.metadata>") from None
    if not path.is_file():
        raise RuntimeError(f"the installed procthor has no {path}; install procthor==0.0.1.dev2 "
                           f"or pass scene.metadata=<a JSON dump of event.metadata>")
    return json.loads(path.read_text())


def procthor_metadata(name: str) -> dict:
    """The objects of iTHOR / RoboTHOR floor plan ``name`` from procthor's metadata database."""
    if name not in FLOOR_PLANS:
        raise KeyError(f"unknown THOR floor plan {name!r}; procthor ships {_VALID_NAMES}. For other scenes "
                       f"pass scene.metadata=<JSON dump of event.metadata>")
    key, _, index = FLOOR_PLANS[name]
    return {"objects": _procthor_database()[key][index], "sceneName": name}


def live_metadata(name: str) -> dict:
    """``event.metadata`` of a live ai2thor controller on ``name``, failing with what is missing."""
    fallback = "or use scene.source=offline (proxy boxes from metadata, no Unity needed)"
    try:
        from ai2thor.controller import Controller
    except ImportError as e:
        raise RuntimeError(f"scene.source=live needs the ai2thor package: pip install ai2thor (or "
                           f"pip install 'tst[thor]'), plus a display (X server) or CloudRendering (a "
                           f"Vulkan GPU) and network access to download the Unity build; {fallback}") from e
    kwargs: dict = {"scene": name}
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        try:  # headless Linux: ai2thor's offscreen Vulkan platform
            from ai2thor.platform import CloudRendering
            kwargs["platform"] = CloudRendering
        except ImportError:
            pass
    try:
        controller = Controller(**kwargs)
    except Exception as e:
        raise RuntimeError(f"ai2thor is installed but its Unity build could not start scene {name!r} ({e}). It "
                           f"needs a display (set DISPLAY to an X server) or CloudRendering (a Vulkan-capable "
                           f"GPU), and network access the first time to download the build; {fallback}") from e
    try:
        meta = controller.last_event.metadata
        return {"objects": list(meta["objects"]), "sceneBounds": meta.get("sceneBounds"),
                "sceneName": meta.get("sceneName") or name}
    finally:
        controller.stop()


def class_color(name: str) -> np.ndarray:
    """A stable mid-tone colour per class (hash of the name), so proxies differ in RGB."""
    if name in SHELL_COLORS:
        return np.array(SHELL_COLORS[name], dtype=np.uint8)
    h = hashlib.md5(name.encode()).digest()
    return np.array([60 + h[0] % 170, 60 + h[1] % 170, 60 + h[2] % 170], dtype=np.uint8)


def object_corners(obj: dict) -> np.ndarray:
    """[8, 3] z-up corners of a THOR object: the oriented box when given, else the axis-aligned one."""
    oid = obj.get("objectId", obj.get("objectType"))
    oobb = obj.get("objectOrientedBoundingBox") or {}
    aabb = obj.get("axisAlignedBoundingBox") or {}
    if oobb.get("cornerPoints"):
        pts = oobb["cornerPoints"]
    elif aabb.get("cornerPoints"):
        pts = aabb["cornerPoints"]
    elif "center" in aabb and "size" in aabb:
        c, s = vec3(aabb["center"], f"{oid}.axisAlignedBoundingBox.center"), vec3(aabb["size"], f"{oid}.size")
        pts = c + (np.array([[(b >> k) & 1 for k in range(3)] for b in range(8)]) - 0.5) * s
    else:
        raise ValueError(f"THOR object {oid!r} has neither objectOrientedBoundingBox.cornerPoints nor "
                         f"axisAlignedBoundingBox (cornerPoints or center + size); cannot place it")
    pts = np.asarray(pts, dtype=np.float64)
    if pts.shape != (8, 3):
        raise ValueError(f"THOR object {oid!r}: cornerPoints must be 8 [x, y, z] points, got shape {pts.shape}")
    return thor_to_zup(pts)


def thor_scene(objects: list[dict], scene_bounds: dict | None = None, scene_id: str = "thor",
               source: str = "AI2-THOR metadata", room_type: str = "room",
               label_map: Mapping[str, str] | None = None) -> Scene:
    """Objects (THOR metadata dicts) -> a Scene of outward boxes, one instance each, in a room shell,
    its classes mapped onto the canonical vocabulary (``label_map`` first; see the module docstring)."""
    if not objects:
        raise ValueError(f"THOR scene {scene_id!r} has no objects; cannot infer its layout ({source})")
    class_names = list(THOR_RAW_CLASSES)
    extra = sorted({class_of(o["objectType"]) for o in objects} - set(class_names))
    class_names += extra  # newer THOR types keep working; known ids stay put
    verts, faces, face_inst, inst_class, names = [], [], [], [0], {}
    n_verts = 0

    def add(v: np.ndarray, f: np.ndarray, cls: str, inst_name: str) -> None:
        nonlocal n_verts
        inst = len(inst_class)
        verts.append(v)
        faces.append(f + n_verts)
        face_inst.append(np.full(len(f), inst, dtype=np.int32))
        inst_class.append(class_names.index(cls))
        names[inst] = inst_name
        n_verts += len(v)

    floor_tops = []
    for obj in objects:
        v, f = box_mesh(object_corners(obj))
        cls = class_of(obj["objectType"])
        add(v, f, cls, str(obj.get("objectId", obj["objectType"])))
        if cls == "floor":
            floor_tops.append(v[:, 2].max())
    obj_v = np.concatenate(verts)
    if scene_bounds and scene_bounds.get("cornerPoints"):
        b = thor_to_zup(np.asarray(scene_bounds["cornerPoints"], dtype=np.float64))
        lo, hi = b.min(0), b.max(0)
    else:  # infer: just outside every object horizontally, from the lowest point to a ceiling
        lo, hi = obj_v.min(0) - WALL_MARGIN, obj_v.max(0) + WALL_MARGIN
        lo[2] = obj_v[:, 2].min()
        floor0 = max(floor_tops) if floor_tops else lo[2]
        hi[2] = max(obj_v[:, 2].max() + WALL_MARGIN, floor0 + MIN_CEILING)
    floor_z = float(max(floor_tops)) if floor_tops else float(lo[2])
    for cls, inst_name, v, f in shell_quads(lo, hi):
        add(v, f, cls, inst_name)

    vertices = np.concatenate(verts).astype(np.float32)
    inst_class_arr = np.asarray(inst_class, dtype=np.int32)
    vert_inst = np.concatenate([np.full(len(v), i + 1, dtype=np.int32) for i, v in enumerate(verts)])
    palette = np.stack([class_color(c) for c in class_names])
    polygon = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]], dtype=np.float32)
    raw = Scene(
        vertices=vertices, faces=np.concatenate(faces).astype(np.int32),
        face_instance=np.concatenate(face_inst), instance_class=inst_class_arr, class_names=class_names,
        vertex_colors=palette[inst_class_arr[vert_inst]], scene_id=scene_id, source=source,
        rooms=[Room(name=room_type, polygon=polygon, floor_z=floor_z, ceiling_z=float(hi[2]))],
        instance_names=names,
    ).validate()
    if label_map is not None and not isinstance(label_map, Mapping):
        raise ValueError(f"scene.label_map must be a dict {{objectType: class name}}, got {label_map!r}; "
                         f"write it as scene.label_map={{CounterTop: table}}")
    lmap = {class_of(k): class_of(v) for k, v in (label_map or {}).items()}  # GarbageCan as THOR spells it
    return to_canonical(raw, lmap, extra=None, where=f"{source} ({scene_id})")
