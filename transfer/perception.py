"""The perception plugin: transferred heads as one callable an embodied agent runs every step.

    from tst import Perception

    perceive = Perception.from_run(["runs/tr_semseg", "runs/tr_det"], device="auto")
    out = perceive({"rgb": rgb, "depth": depth})       # one observation -> one dict
    outs = perceive([obs_a, obs_b])                     # a list (or [B, H, W, 3] arrays) -> a list of dicts

Observation formats (both what ``tst.envs`` renderers return and habitat-sim sensor dicts):

- ``"rgb"``: uint8 ``[H, W, 3]`` or ``[H, W, 4]`` (RGBA, alpha dropped); a batch is a list of
  observations or an ``[B, H, W, 3|4]`` array. A bare uint8 array is taken as the rgb.
- ``"depth"`` (optional, float metres, ``[H, W]`` or ``[H, W, 1]``): not an input of the heads, checked
  so that a mapper downstream can trust it.
- ``"intrinsics"`` ({fx, fy, cx, cy, width, height}) and ``"cam_to_world"`` (4x4, OpenCV axes), optional,
  with ``"depth"``: when the semseg run holds the test space's map (``space_map.npz``, written by
  self-training: ``tst.transfer.space_map``), the pixels whose voxel the map has seen take its label,
  and ``"semseg_mapped"`` (bool ``[H, W]``) says which; a det head's boxes are weighed against those
  labels (``space_map.rescore_detections``), and a caption head decodes under the classes those labels show,
  then re-ranks its hypotheses by them (``caption_space``). On development space 0 that took the eval views from
  33.2 to 39.0 mIoU, and det AP50 from 26.5 to 30.7. ``Perception.from_run(..., space_map=False)``
  ignores the map.
- Colours: when the semseg run calibrated the test space's colours (``space_colour.json``, written with
  ``self_train.data``: ``tst.transfer.space_colour``), every head sees the views through that calibration;
  it is the identity for a space whose colours the labelled spaces already cover.

Output, one dict per image with only the heads that were loaded:

- ``"semseg"``: uint16 ``[H, W]`` class ids of the head's vocabulary (``classes("semseg")``);
- ``"detections"``: ``{"boxes": float32 [N, 4] xyxy pixels, "labels": int64 [N] class ids,
  "names": [N] class names, "scores": float32 [N]}`` for scores >= ``score_threshold``;
- ``"caption"``: str;
- ``"depth"``: float32 ``[H, W]`` metres (predicted).

Each task's entry is its ``plugin_output`` (``tst.transfer.tasks``).

The model's input size is the transfer run's ``image_size`` (what the head was trained at). Images
of another size are resized to it (bilinear) and the outputs are mapped back to the observation's
size (each task's ``perceive``: labels nearest, depth bilinear; the detector's own transform resizes and
scales the boxes back).
Anything else (float rgb, a wrong channel count, depth of another size) raises ValueError stating
the expected format. Calls run under ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tst.device import resolve_device
from tst.transfer.head_checkpoint import load_head
from tst.transfer.space_colour import COLOUR_FILE, ColourCalibration
from tst.transfer.space_fusion import VoxelVotes
from tst.transfer.space_map import MAP_FILE, read_labels
from tst.transfer.tasks import TASKS

TASK_ORDER = tuple(TASKS)  # heads run (and outputs fill) in the registry's order
FORMAT = ("expected an observation dict {'rgb': uint8 [H, W, 3] or [H, W, 4], 'depth': float metres [H, W] "
          "or [H, W, 1] (optional)}, a uint8 [H, W, 3|4] array, a list of those, or a batch [B, H, W, 3|4]")


def head_dirs(dirs: str | Path | Sequence[str | Path]) -> list[Path]:
    """Transfer run directories (or head.pt files) -> their head.pt paths; a dir without one is an
    error that lists what the dir holds."""
    dirs = [dirs] if isinstance(dirs, (str, Path)) else list(dirs)
    if not dirs:
        raise ValueError("no head given: pass one or more transfer run directories (each holding head.pt)")
    out = []
    for d in map(Path, dirs):
        f = d / "head.pt" if d.is_dir() else d
        if not f.is_file():
            where = d if d.is_dir() else d.parent
            have = sorted(p.name for p in where.iterdir()) if where.is_dir() else []
            raise FileNotFoundError(f"{d} holds no head.pt (not a finished `tst transfer` run); it contains "
                                    f"{have or 'nothing (or does not exist)'}")
        out.append(f)
    return out


def _check_image(rgb: Any, where: str) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[-1] not in (3, 4) or min(a.shape[:2]) < 1:
        raise ValueError(f"{where}: got dtype {a.dtype}, shape {a.shape}; {FORMAT}")
    return a[..., :3]


def _check_depth(depth: Any, hw: tuple[int, int], where: str) -> np.ndarray:
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if not np.issubdtype(d.dtype, np.floating) or d.shape != hw:
        raise ValueError(f"{where}: depth has dtype {d.dtype}, shape {np.asarray(depth).shape}, but the rgb is "
                         f"{hw[0]}x{hw[1]}; expected float metres [H, W] or [H, W, 1] of the rgb's size")
    return d


def observation_poses(observation: Any, n: int) -> list[tuple[Mapping, np.ndarray] | None]:
    """(intrinsics, cam_to_world 4x4) of each single-image observation dict that carries both, else None."""
    obs = [observation] if isinstance(observation, Mapping) else \
        list(observation) if isinstance(observation, (list, tuple)) else []
    out: list[tuple[Mapping, np.ndarray] | None] = []
    for i, o in enumerate(obs):
        if not (isinstance(o, Mapping) and "intrinsics" in o and "cam_to_world" in o):
            out.append(None)
            continue
        T = np.asarray(o["cam_to_world"], dtype=np.float64)
        k = o["intrinsics"]
        if T.shape != (4, 4) or not isinstance(k, Mapping) or not {"fx", "fy", "cx", "cy"} <= set(k):
            raise ValueError(f"observation {i}: cam_to_world must be 4x4 (got {T.shape}) and intrinsics a dict with "
                             f"fx, fy, cx, cy, width, height (got {k!r})")
        out.append((k, T))
    return out if len(out) == n else [None] * n


def split_observations(observation: Any) -> tuple[list[np.ndarray], list[np.ndarray | None], bool]:
    """Any accepted call -> (rgb uint8 [H, W, 3] per image, depth or None per image, batched?)."""
    if isinstance(observation, np.ndarray) and observation.ndim == 4:
        return [_check_image(x, f"batch[{i}]") for i, x in enumerate(observation)], [None] * len(observation), True
    if isinstance(observation, (list, tuple)):
        if not observation:
            raise ValueError(f"empty batch; {FORMAT}")
        rgbs, depths = [], []
        for i, o in enumerate(observation):
            r, d, _ = split_observations(o)
            if len(r) != 1:
                raise ValueError(f"batch[{i}] is itself a batch; {FORMAT}")
            rgbs.append(r[0])
            depths.append(d[0])
        return rgbs, depths, True
    if isinstance(observation, Mapping):
        if "rgb" not in observation:
            raise ValueError(f"observation has no 'rgb' (keys: {sorted(observation)}); {FORMAT}")
        rgb = np.asarray(observation["rgb"])
        depth = observation.get("depth")
        if rgb.ndim == 4:  # a batched dict, e.g. a vectorised habitat env
            imgs = [_check_image(x, f"observation['rgb'][{i}]") for i, x in enumerate(rgb)]
            ds = [None] * len(imgs) if depth is None else [
                _check_depth(d, im.shape[:2], f"observation['depth'][{i}]") for i, (d, im) in enumerate(zip(depth, imgs))]
            return imgs, ds, True
        img = _check_image(rgb, "observation['rgb']")
        return [img], [None if depth is None else _check_depth(depth, img.shape[:2], "observation")], False
    if isinstance(observation, np.ndarray):
        return [_check_image(observation, "observation")], [None], False
    raise ValueError(f"observation of type {type(observation).__name__}; {FORMAT}")


class Perception:
    """Loaded heads (``task name -> (task, model, image size)``) on one device; see the module docstring."""

    def __init__(self, heads: Mapping[str, tuple[Any, nn.Module, int]], device: str | torch.device = "cpu",
                 score_threshold: float = 0.5):
        if not heads:
            raise ValueError("Perception needs at least one head")
        unknown = sorted(set(heads) - set(TASK_ORDER))
        if unknown:
            raise KeyError(f"unknown head tasks {unknown}; known: {list(TASK_ORDER)}")
        self.device = resolve_device(device)
        self.heads = {n: (t, m.to(self.device).eval(), int(s)) for n, (t, m, s) in heads.items()}
        self.score_threshold = float(score_threshold)
        self.sources: dict[str, Path] = {}  # task -> head.pt it came from (from_run)
        self.configs: dict[str, dict] = {n: {} for n in self.heads}  # task -> its transfer run's config
        self.space_map: VoxelVotes | None = None  # the test space's map (from_run), read with depth + pose
        self.map_head: str | None = None  # the head whose run held it (a task that self-trains), in its classes
        self.colour: ColourCalibration | None = None  # the test space's colour calibration (from_run), every head's

    @classmethod
    def from_run(cls, dir_or_dirs: str | Path | Sequence[str | Path], device: str = "auto",
                 score_threshold: float = 0.5, space_map: bool = True) -> Perception:
        """Load every ``head.pt`` of the given transfer run directories (at most one per task), the semseg
        run's ``space_map.npz`` when it has one (``space_map=False``: the head alone), and its
        ``space_colour.json`` (the space's colour calibration) when it has one."""
        dev = resolve_device(device)
        heads: dict[str, tuple[Any, nn.Module, int]] = {}
        sources: dict[str, Path] = {}
        configs: dict[str, dict] = {}
        for f in head_dirs(dir_or_dirs):
            task, model, state = load_head(f, device=dev)
            if task.name in heads:
                raise ValueError(f"two heads for task {task.name!r}: {sources[task.name]} and {f}; pass one per task")
            size = (state.get("config") or {}).get("image_size") or state["head_config"].get("image_size")
            if not size:
                raise ValueError(f"{f} records no image_size (config.image_size); it was not written by `tst transfer`")
            heads[task.name], sources[task.name] = (task, model, int(size)), f
            configs[task.name] = state.get("config") or {}
        out = cls({n: heads[n] for n in TASK_ORDER if n in heads}, dev, score_threshold)
        out.sources, out.configs = sources, configs
        for name in out.heads if space_map else ():
            m = sources[name].parent / MAP_FILE
            if out.task(name).info.self_trains and m.is_file():
                out.space_map, out.map_head = VoxelVotes.load(m), name
                break
        for name in out.heads:
            c = sources[name].parent / COLOUR_FILE
            if out.task(name).info.self_trains and c.is_file():
                out.colour = ColourCalibration.load(c)
                break
        return out

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    def classes(self, task: str) -> dict[int, str]:
        """The class vocabulary (id -> name, 0 = unlabelled) a semseg or det head predicts in."""
        t = self.task(task)
        if not hasattr(t, "class_names"):
            raise KeyError(f"head {task!r} has no class vocabulary")
        return {0: "unlabelled", **t.class_names}

    def task(self, name: str):
        if name not in self.heads:
            raise KeyError(f"no {name!r} head loaded; loaded heads: {self.tasks}")
        return self.heads[name][0]

    def predict(self, name: str, rgb: torch.Tensor) -> list[dict[str, Any]]:
        """rgb float [B, 3, H, W] in [0, 1] -> the task's own raw outputs at H x W (what its evaluator takes)."""
        self.task(name)  # fails listing the loaded heads
        task, model, size = self.heads[name]
        with torch.inference_mode():
            return task.perceive(model, self._seen(rgb), size)

    def predict_posed(self, name: str, rgb: torch.Tensor, depth: Sequence[np.ndarray],
                      poses: Sequence[tuple[Mapping, np.ndarray]]) -> list[dict[str, Any]]:
        """``predict`` for views whose depth (metres [H, W]) and (intrinsics, cam_to_world) are known: with the
        space's map loaded, semseg answers from it where its voxels have votes, and detections are weighed
        against those labels (``space_map.rescore_detections``) and captions decoded under them
        (``caption_space``); other heads, or no map: ``predict``."""
        outs = self.predict(name, rgb)
        if not self._reads_map(name):
            return outs
        own = outs if name == self.map_head else self.predict(self.map_head, rgb)
        return self._with_map(name, rgb, outs, [lab for lab, _ in self.space_labels(own, depth, poses)])

    def space_labels(self, outputs: Sequence[dict], depth: Sequence[np.ndarray],
                     poses: Sequence[tuple[Mapping, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The map head's outputs of posed views -> per view (class ids [H, W], the map's where its voxels have
        votes; bool [H, W] of those pixels)."""
        task = self.task(self.map_head)
        return [read_labels(self.space_map, task.pixel_classes(o), d, k, T) for o, d, (k, T) in zip(outputs, depth, poses)]

    def _reads_map(self, name: str) -> bool:
        return self.space_map is not None and self.map_head is not None and self.task(name).info.map_aware

    def _with_map(self, name: str, rgb: torch.Tensor, outs: list[dict], labels: Sequence[np.ndarray]) -> list[dict]:
        task, model, size = self.heads[name]
        with torch.inference_mode():
            return task.in_space(model, self._seen(rgb), size, outs, labels, self.task(self.map_head).class_names)

    def _seen(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb [B, 3, H, W] as the heads see it: on the device, through the space's colour calibration."""
        rgb = rgb.to(self.device)
        return rgb if self.colour is None else self.colour(rgb)

    def __call__(self, observation: Any) -> dict[str, Any] | list[dict[str, Any]]:
        rgbs, depths, batched = split_observations(observation)
        poses = observation_poses(observation, len(rgbs))
        results: list[dict[str, Any]] = [{} for _ in rgbs]
        # images of one size run as one batch; mixed sizes run one by one
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(rgbs):
            groups.setdefault(r.shape[:2], []).append(i)
        has_map = self.space_map is not None and self.map_head is not None
        mapped = [has_map and d is not None and p is not None for d, p in zip(depths, poses)]
        for idx in groups.values():
            for ids in ([i for i in idx if mapped[i]], [i for i in idx if not mapped[i]]):
                if not ids:
                    continue
                x = torch.from_numpy(np.stack([rgbs[i] for i in ids])).permute(0, 3, 1, 2).float().div_(255.0)
                outs = {name: self.predict(name, x) for name in self.heads}  # each head runs once
                if mapped[ids[0]]:  # the map head's labels (one lookup per view) serve every head that reads the map
                    looked = self.space_labels(outs[self.map_head], [depths[i] for i in ids], [poses[i] for i in ids])
                    labels = [lab for lab, _ in looked]
                    outs = {n: self._with_map(n, x, o, labels) if self._reads_map(n) else o for n, o in outs.items()}
                    for i, (_, hit) in zip(ids, looked):
                        results[i][f"{self.map_head}_mapped"] = hit
                for name, head_outs in outs.items():
                    for i, o in zip(ids, head_outs):
                        results[i].update(self._format(name, o))
        return results if batched else results[0]

    def _format(self, name: str, o: dict[str, Any]) -> dict[str, Any]:
        return self.heads[name][0].plugin_output(o, self.score_threshold)
