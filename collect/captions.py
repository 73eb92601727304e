"""Reference captions generated from what a labelled view shows, so caption heads have targets.

CIDEr and BLEU compare a prediction with SEVERAL references; one fixed sentence per image would make
them degenerate. So each view gets ``n`` captions built from facts read off its label maps — visible
classes (pixel area above a threshold), instance counts, colours named from rgb, left/right and
near/far relations from instance centroids and depth, and the room type from ``scene.rooms`` at the
camera position — phrased through different templates and synonyms. ASCII only, deterministic for
an rng seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tst.envs.scene import Scene

STUFF = ("unlabelled", "wall", "floor", "ceiling", "window", "door", "background", "stuff")
NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
NEAR_M, FAR_M = 1.5, 3.5  # median depth (metres) below which an object is "close", above "far"


@dataclass
class Thing:
    """One visible object instance: what the templates talk about."""

    cls: str  # class name, spaces instead of underscores
    area: float  # fraction of the image
    cx: float  # centroid column / width, 0 = left edge
    depth: float  # median depth of its pixels, metres (0 when unknown)
    colour: str


def clean(name: str) -> str:
    return name.replace("_", " ").encode("ascii", "ignore").decode().strip().lower() or "object"


def plural(word: str, count: int) -> str:
    if count == 1:
        return word
    irregular = {"shelf": "shelves", "person": "people", "knife": "knives", "leaf": "leaves"}
    head, _, last = word.rpartition(" ")
    prefix = head + " " if head else ""
    if last in irregular:
        return prefix + irregular[last]
    if last.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def number(count: int) -> str:
    return NUMBERS[count] if count < len(NUMBERS) else str(count)


def article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def colour_name(rgb: np.ndarray) -> str:
    """A plain colour word for a mean RGB colour (uint8-range [3]) from its hue, saturation, value."""
    hsv = cv2.cvtColor(np.uint8(np.clip(rgb, 0, 255)).reshape(1, 1, 3), cv2.COLOR_RGB2HSV)[0, 0]
    h, s, v = int(hsv[0]) * 2, int(hsv[1]), int(hsv[2])  # hue in degrees, s and v in 0..255
    if v < 50:
        return "black"
    if s < 40:
        return "white" if v > 200 else "grey"
    if (h < 45 or h >= 345) and v < 150 and s > 60:
        return "brown"
    for limit, name in ((15, "red"), (45, "orange"), (70, "yellow"), (160, "green"), (200, "teal"),
                        (255, "blue"), (290, "purple"), (345, "pink"), (360, "red")):
        if h < limit:
            return name
    return "red"


def room_at(scene: Scene, xy: np.ndarray) -> str | None:
    """Name of the room whose floor polygon contains ``xy`` (even-odd rule), None when outside all."""
    for room in scene.rooms:
        poly = np.asarray(room.polygon, dtype=np.float64)  # [N, 2]
        x, y = float(xy[0]), float(xy[1])
        x0, y0 = poly[:, 0], poly[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crosses = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / np.where(y1 == y0, 1e-12, y1 - y0) + x0)
        if crosses.sum() % 2 == 1:
            return clean(room.name)
    return None


def visible_things(frame: dict, scene: Scene, min_area: float) -> tuple[list[Thing], list[str]]:
    """Thing instances (largest first) and stuff classes covering at least ``min_area`` of the view.

    Classes come from the instance map through the SCENE's own ``instance_class``/``class_names``:
    the frame's semseg may already hold split-wide class ids (the collector remaps them).
    """
    instance = frame["instance"]  # [H, W] uint16
    h, w = instance.shape
    depth = frame.get("depth")  # [H, W] float32 metres or None
    rgb = frame["rgb"]  # [H, W, 3] uint8
    names = scene.class_names
    things: list[Thing] = []
    stuff_area: dict[str, float] = {}
    ids, counts = np.unique(instance, return_counts=True)
    for inst, count in zip(ids, counts):
        if inst == 0 or inst >= len(scene.instance_class):
            continue
        name = clean(names[int(scene.instance_class[inst])])
        area = float(count) / (h * w)
        if name in STUFF:
            stuff_area[name] = stuff_area.get(name, 0.0) + area
            continue
        if area < min_area:
            continue
        m = instance == inst  # [H, W]
        cols = np.nonzero(m)[1]
        d = float(np.median(depth[m])) if depth is not None else 0.0
        things.append(Thing(name, area, float(cols.mean() + 0.5) / w, d, colour_name(rgb[m].mean(0))))
    things.sort(key=lambda t: -t.area)
    big_stuff = sorted((n for n in stuff_area if n != "unlabelled" and stuff_area[n] >= min_area),
                       key=lambda n: (-stuff_area[n], n))
    return things, big_stuff[:3]  # the three largest: long lists of walls and ceilings read badly


def list_phrase(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def captions_for_view(frame: dict, scene: Scene, n: int = 5, rng: np.random.Generator | None = None,
                      cam_to_world: np.ndarray | None = None, min_area: float = 0.01) -> list[str]:
    """``n`` captions of one rendered view (rgb, instance, optional depth; [H, W] maps), all different
    as long as ``n`` does not exceed the facts available (then they repeat cyclically).

    The camera pose (for the room type) is ``cam_to_world`` or ``frame["cam_to_world"]`` or
    ``frame["meta"]["cam_to_world"]``; without one, a single-room scene still names its room.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    pose = cam_to_world if cam_to_world is not None else frame.get("cam_to_world")
    if pose is None and isinstance(frame.get("meta"), dict):
        pose = frame["meta"].get("cam_to_world")
    room = None
    if pose is not None:
        room = room_at(scene, np.asarray(pose, dtype=np.float64)[:2, 3])
    elif len(scene.rooms) == 1:
        room = clean(scene.rooms[0].name)
    things, stuff = visible_things(frame, scene, min_area)

    def pick(*options: str) -> str:
        return options[int(rng.integers(len(options)))]

    place = article(room) if room else pick("a room", "an indoor space", "an interior")
    counts: dict[str, int] = {}
    for t in things:
        counts[t.cls] = counts.get(t.cls, 0) + 1
    counted = [f"{number(k)} {plural(c, k)}" if k > 1 else article(c) for c, k in counts.items()]
    pool: list[str] = []
    if things:
        big = things[0]
        pool.append(f"{pick('A view of', 'A picture of', 'An image of', 'A photo of')} {place} "
                    f"{pick('with', 'containing', 'showing')} {list_phrase(counted)}.")
        pool.append(f"{list_phrase(counted)[0].upper()}{list_phrase(counted)[1:]} "
                    f"{pick('in', 'inside')} {place}.")
        if len(things) == 1:
            pool.append(f"There is one object in view: {article(big.colour + ' ' + big.cls)}.")
        else:
            pool.append(f"There are {number(len(things))} objects in view; the largest is "
                        f"{article(big.colour + ' ' + big.cls)}.")
        near = "close to the camera" if 0 < big.depth < NEAR_M else (
            "far from the camera" if big.depth > FAR_M else "in the middle of the view")
        pool.append(f"{article(big.colour + ' ' + big.cls).capitalize()} {pick('is', 'appears', 'can be seen')} {near}.")
        pairs = [(a, b) for a in things[:3] for b in things[:3] if a is not b and a.cls != b.cls]
        if pairs:
            a, b = pairs[int(rng.integers(len(pairs)))]
            side = "to the left of" if a.cx < b.cx else "to the right of"
            rel = side if abs(a.depth - b.depth) < 0.5 or b.depth == 0 else (
                "in front of" if a.depth < b.depth else "behind")
            pool.append(f"The {a.colour} {a.cls} is {rel} the {b.cls}.")
        if stuff:
            pool.append(f"{pick('Inside', 'Within')} {place}, {article(big.cls)} "
                        f"{pick('next to', 'near', 'by')} the {list_phrase(stuff)}.")
    if stuff:
        pool.append(f"{pick('A view of', 'Looking at')} the {list_phrase(stuff)} of {place}.")
    pool.append(f"{place[0].upper()}{place[1:]}{' with ' + list_phrase(counted) if counted else ''}, "
                f"{pick('seen from', 'photographed from', 'viewed from')} "
                f"{'eye level' if pose is None or np.asarray(pose)[2, 3] > 1.2 else 'low height'}.")
    if not things:
        pool += [f"An empty part of {place}.", f"Nothing but {list_phrase(stuff) or 'empty space'} in view.",
                 f"{pick('A bare', 'An empty', 'A plain')} view of {place}."]
    order = rng.permutation(len(pool))
    unique = list(dict.fromkeys(pool[i] for i in order))
    out = [unique[i % len(unique)] for i in range(n)]
    return [s.encode("ascii", "ignore").decode() for s in out]
