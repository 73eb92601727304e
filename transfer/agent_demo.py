"""``tst deploy … agent=true``: an agent walks the test space and perceives it with the transferred heads.

The scene is rebuilt from the eval split's ``manifest.json`` (its ``config.scene`` is the exact
scene config the split was rendered from; a synth apartment is regenerated from its seed) and
checked against the recorded scene hash, so the agent walks the space the heads were scored in.
The ``walk`` policy (``tst.envs.policies.walk``) plans the trajectory; the renderer the split was
collected with (its manifest's ``config.renderer``, or deploy's ``renderer=`` when given) renders
each step; the plugin (``Perception``) runs on what the agent sees. Written into the run directory:

- ``agent.gif``: every step annotated with the predicted masks, boxes and caption;
- ``agent_map.png``: the top-down semantic map from the predicted labels projected through depth
  and pose (``tst.transfer.semantic_map``), next to the same projection of the rendered labels,
  scored as ``map/mIoU`` over the classes the head can predict. Without a semseg head or without depth the map is skipped with a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from hydra.utils import instantiate

from tst.envs.camera import Intrinsics
from tst.envs.freespace import FreeSpace
from tst.envs.policies.walk import WalkPolicy
from tst.envs.render.base import Renderer
from tst.envs.scene import Scene, scene_hash
from tst.progress import bar
from tst.shards import read_manifest
from tst.transfer.class_map import apply_lut, map_classes
from tst.transfer.overlay import annotate, colorize, hstack, write_png
from tst.transfer.perception import Perception
from tst.transfer.semantic_map import TopDownMap, map_miou

log = logging.getLogger(__name__)


def rebuild_scene(split_dir: str | Path) -> Scene:
    """The one scene an eval split was rendered from, regenerated from its manifest and hash-checked."""
    m = read_manifest(split_dir)
    scene_cfg = (m.get("config") or {}).get("scene")
    ids = m.get("scene_ids") or []
    if not scene_cfg or len(ids) != 1 or (m.get("config") or {}).get("split") == "external":
        raise ValueError(f"{split_dir}/manifest.json does not describe ONE test space (scene_ids={ids}, "
                         f"config.scene={'present' if scene_cfg else 'missing'}); the agent demo needs an eval "
                         f"split written by `tst collect split=eval`")
    scene = instantiate(scene_cfg, _convert_="object")
    want = (m.get("scene_hashes") or {}).get(ids[0])
    if want and scene_hash(scene) != want:
        raise ValueError(f"rebuilding the scene of {split_dir} from its manifest config.scene={scene_cfg} gives "
                         f"another scene than the one recorded (hash {want[:12]}…); the generator or the files "
                         f"changed since the split was collected: collect the eval split again")
    return scene


def build_renderer(split_dir: str | Path, scene: Scene, renderer: Mapping[str, Any] | None = None,
                   threads: int | None = None) -> Renderer:
    """The renderer for the walk, built like collect builds it: ``instantiate(spec, scene)``.

    ``spec`` is ``renderer`` when given (deploy's ``renderer=``), else the renderer config the eval
    split was collected with, so the agent sees views rendered like the ones the heads were scored on.
    ``threads`` (not None) replaces the config's render threads."""
    if renderer is None:
        renderer = (read_manifest(split_dir).get("config") or {}).get("renderer")
    spec = dict(renderer or {})
    if "_target_" not in spec:
        raise ValueError(f"{split_dir}/manifest.json records no renderer config (config.renderer._target_); "
                         f"pass one to the agent demo, e.g. tst deploy … agent=true renderer=open3d")
    if threads is not None:
        spec["threads"] = int(threads)
    return instantiate(spec, scene, _convert_="object")


def _map_figure(truth: np.ndarray, pred: np.ndarray, path_cells: np.ndarray, miou: float) -> np.ndarray:
    """Ground-truth | predicted map, +y up, cells scaled to >= 4 px, the agent's path in white."""
    scale = max(4, 256 // max(truth.shape))
    panels = []
    for grid in (truth, pred):
        img = colorize(grid)
        for r, c in path_cells:
            img[r, c] = 255
        img = cv2.resize(img[::-1], (grid.shape[1] * scale, grid.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        panels.append(np.ascontiguousarray(img))
    return hstack(panels, ["ground-truth map", f"predicted map (mIoU {miou:.1f})"])


def run_agent(perception: Perception, split_dir: str | Path, out_dir: str | Path, *, steps: int = 32, seed: int = 0,
              fps: float = 4.0, cell: float = 0.1, z_range: Sequence[float] = (-0.1, 2.2), depth: bool = True,
              threads: int | None = None, policy: Mapping[str, Any] | None = None,
              renderer: Mapping[str, Any] | None = None, synonyms: Mapping[str, str] | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Walk ``steps`` poses, perceive, write ``agent.gif`` + ``agent_map.png``; returns metrics and paths.

    depth=False simulates a sensor without depth (the map is then skipped with a warning);
    ``renderer``/``threads``: see :func:`build_renderer`."""
    import imageio.v3 as iio

    if steps < 1:
        raise ValueError(f"demo.steps must be >= 1, got {steps}")
    out_dir, scene = Path(out_dir), rebuild_scene(split_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    intr = Intrinsics.from_dict(read_manifest(split_dir)["intrinsics"])
    poses = WalkPolicy(scene, FreeSpace(scene), **dict(policy or {})).plan(int(steps), int(seed))
    renderer = build_renderer(split_dir, scene, renderer, threads)
    scene_vocab = dict(enumerate(scene.class_names))
    warning = None
    if "semseg" not in perception.tasks:
        warning = "no semseg head was given, so the top-down semantic map is skipped"
    elif not depth:
        warning = "the observations carry no depth, so the top-down semantic map is disabled"
    if warning:
        log.warning("agent demo: %s", warning)
    maps = None
    if warning is None:
        lut, _ = map_classes(perception.classes("semseg"), scene_vocab, synonyms)
        # as in the deploy semseg scores, scene classes the head cannot predict are left out of the truth
        covered = np.zeros(len(scene_vocab), dtype=np.int64)
        ids = sorted(set(lut.tolist()) - {0})
        covered[ids] = ids
        maps = [TopDownMap.covering(scene.bounds, cell, len(scene_vocab), tuple(z_range)) for _ in range(2)]
    frames, perceive_ms, path = [], [], []
    t0 = time.perf_counter()
    for pose in bar(poses, desc="agent walk", unit="step", enabled=progress):
        view = renderer.render(intr, pose, ("rgb", "depth", "semseg"))
        # with depth the agent also knows its pose: a semseg head with the space's map then reads it
        obs = {"rgb": view["rgb"], "depth": view["depth"], "intrinsics": asdict(intr),
               "cam_to_world": np.asarray(pose)} if depth else {"rgb": view["rgb"]}
        t1 = time.perf_counter()
        result = perception(obs)
        perceive_ms.append(1000 * (time.perf_counter() - t1))
        frames.append(annotate(view["rgb"], result))
        if maps is not None:
            maps[0].add(covered[view["semseg"]], view["depth"], intr, pose)
            maps[1].add(apply_lut(result["semseg"].astype(np.int64), lut), view["depth"], intr, pose)
            row, col, inside = maps[0].cells_of(np.asarray(pose)[None, :2, 3])
            if inside[0]:
                path.append((int(row[0]), int(col[0])))
    seconds = time.perf_counter() - t0
    metrics: dict[str, float] = {"agent/steps": len(poses), "agent/frames_per_s": round(len(poses) / seconds, 2),
                                 "agent/perception_ms_p50": round(float(np.median(perceive_ms)), 2)}
    video = out_dir / "agent.gif"
    iio.imwrite(video, np.stack(frames), duration=1000.0 / float(fps), loop=0)
    map_png = None
    if maps is not None:
        truth, pred = maps[0].labels(), maps[1].labels()
        if (truth > 0).any():
            metrics.update(map_miou(pred, truth, scene_vocab))
            map_png = out_dir / "agent_map.png"
            write_png(map_png, _map_figure(truth, pred, np.array(path, dtype=int).reshape(-1, 2),
                                           metrics["map/mIoU"]))
        else:
            warning = f"no labelled point fell inside z_range={list(z_range)}, so the map is empty"
            log.warning("agent demo: %s", warning)
    return {"metrics": metrics, "video": video, "map_png": map_png, "warning": warning}
