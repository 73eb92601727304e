"""``tst collect``: render a space into a split directory of multimodal shards (one readable loop).

    tst collect scene=synth policy=random split=pretrain frames=256 workers=2 resolution=256 out=runs/c

The run directory IS the split directory: ``shard-NNNNNN.tar`` + ``manifest.json`` next to the
``config.yaml`` / ``provenance.json`` / ``metrics.json`` every stage writes. Re-running with the
same config (or ``resume=true``, which may also change ``frames``) skips complete shards.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from tst.atomic import write_json
from tst.collect.camera import camera_from_config
from tst.collect.collector import CollectError, CollectJob, collect, pending_shards
from tst.collect.finalize import finish_split
from tst.collect.leakage import enforce_separation, split_poses
from tst.collect.manifest import build_manifest, merge_vocabularies
from tst.collect.members import known_extras
from tst.collect.spread import spread_problem, spread_report
from tst.envs.camera import Intrinsics
from tst.envs.freespace import FreeSpace
from tst.envs.policies.base import PolicyError
from tst.envs.scene import Scene
from tst.modalities import LABEL_MODALITIES, SENSOR_MODALITIES, get_modality
from tst.rundir import open_run_dir
from tst.runlog import make_logger

SPLITS = {"pretrain": SENSOR_MODALITIES, "eval": SENSOR_MODALITIES + LABEL_MODALITIES,
          "external": SENSOR_MODALITIES + LABEL_MODALITIES}
log = logging.getLogger(__name__)
_SPLIT_CODE = {"pretrain": 0, "eval": 1, "external": 2}


def check_config(cfg: DictConfig) -> None:
    """Fail before any work on values that cannot work, naming the field and the fix."""
    def bad(field: str, value: Any, fix: str) -> None:
        raise ValueError(f"collect config: {field}={value!r} is invalid; {fix}")

    if cfg.split not in SPLITS:
        bad("split", cfg.split, f"choose one of {list(SPLITS)}")
    for key, lo in (("frames", 1), ("resolution", 8), ("shard_size", 1), ("workers", 1)):
        if not isinstance(cfg[key], int) or cfg[key] < lo:
            bad(key, cfg[key], f"it must be an integer >= {lo}")
    if cfg.rgb_format not in ("png", "jpg"):
        bad("rgb_format", cfg.rgb_format, "choose png (lossless) or jpg (quality 95)")
    camera_from_config(cfg.get("camera"))  # raises naming the camera field
    for e in cfg.extras:
        if e not in known_extras():
            bad("extras", list(cfg.extras), f"known derived members: {known_extras()}")
        if get_modality(e).needs_labels and cfg.split == "pretrain":
            bad("extras", list(cfg.extras), f"{e!r} needs labels: use it with split=eval or split=external")
    if cfg.leakage.enforce and (cfg.split != "eval" or not cfg.leakage_ref):
        bad("leakage.enforce", True, "it keeps eval views away from a pretrain split: use it with split=eval "
            "and leakage_ref=<pretrain split dir>")
    if cfg.split == "external" and not cfg.external_scenes:
        if "seed" not in cfg.scene:
            bad("external_scenes", [], f"split=external renders OTHER spaces: scene={cfg.scene._target_} has no "
                "seed, so list the other spaces as scene configs in external_scenes")
        if cfg.scene.seed in cfg.external_seeds:
            bad("external_seeds", list(cfg.external_seeds), f"it contains the test space's seed "
                f"(scene.seed={cfg.scene.seed}); external data must come from other spaces")
        if not cfg.external_seeds:
            bad("external_seeds", [], "list at least one seed of another space")


def build_scenes(cfg: DictConfig) -> list[Scene]:
    """The test space, or for split=external the other spaces (external_scenes or external_seeds)."""
    if cfg.split != "external":
        return [instantiate(cfg.scene)]
    if cfg.external_scenes:
        return [instantiate(s) for s in cfg.external_scenes]
    return [instantiate(cfg.scene, seed=int(s)) for s in cfg.external_seeds]


def plan_seed(seed: int, split: str, scene_index: int) -> int:
    """Separate trajectories per split and scene from one user seed (eval never replays pretrain poses)."""
    return int(np.random.SeedSequence([seed, _SPLIT_CODE[split], scene_index]).generate_state(1)[0])


def separated(policy, want: int, seed: int, ref_poses: np.ndarray, max_dist: float, max_angle: float) -> list:
    """The first ``want`` planned poses with no reference (pretrain) view within ``max_dist`` metres AND
    ``max_angle`` degrees; plans up to 16x more to find them, else PolicyError carrying those found.

    Policies plan prefix-stably, so the kept poses do not depend on how many were planned."""
    m = want
    while True:
        poses = policy.plan(m, seed)
        keep = enforce_separation(np.asarray(poses).reshape(-1, 4, 4), ref_poses, max_dist, max_angle)
        if len(keep) >= want:
            return [poses[i] for i in keep[:want]]
        if len(poses) < m or m >= 16 * want:
            err = PolicyError(f"only {len(keep)} of {len(poses)} planned eval views keep {max_dist} m / "
                              f"{max_angle} deg from every view of leakage_ref; lower leakage.max_dist / "
                              f"leakage.max_angle or collect fewer frames")
            err.poses = [poses[i] for i in keep]
            raise err
        m *= 2


def plan(cfg: DictConfig, scenes: list[Scene]) -> tuple[np.ndarray, np.ndarray, dict, str | None]:
    """Poses [N, 4, 4] and scene index [N], interleaving scenes (sample i -> scene i % len(scenes)) so
    that every scene gets an even share and a larger ``frames`` keeps the existing samples.

    Returns (poses, scene_index, policy reports, failure message or None); on a policy failure
    the poses are the longest prefix every scene could plan.
    """
    k, n = len(scenes), int(cfg.frames)
    per_scene: list[list[np.ndarray]] = []
    reports, failure = {}, None
    leak = cfg.leakage
    ref_poses = split_poses(cfg.leakage_ref)[1] if leak.enforce else None
    for j, scene in enumerate(scenes):
        want = n // k + (j < n % k)
        # _convert_=object: the Scene must reach the policy as itself, not as an OmegaConf copy
        free_space = FreeSpace(scene, enclosed=cfg.get("freespace", {}).get("enclosed", "auto"))
        policy = instantiate(cfg.policy, scene=scene, free_space=free_space, _convert_="object")
        seed = plan_seed(int(cfg.seed), cfg.split, j)
        try:
            if ref_poses is None:
                poses = policy.plan(want, seed)
            else:
                poses = separated(policy, want, seed, ref_poses, float(leak.max_dist), float(leak.max_angle))
        except PolicyError as e:
            poses, failure = list(getattr(e, "poses", []) or []), f"scene {scene.scene_id!r}: {e}"
        per_scene.append(poses)
        reports[scene.scene_id] = policy.report()
        if poses:  # a degenerate spread is refused before anything is rendered
            spread = spread_report(free_space, np.asarray(poses))
            reports[scene.scene_id]["spread"] = spread
            problem = spread_problem(spread, len(poses), scene.scene_id, policy.name, reports[scene.scene_id])
            if problem:
                raise CollectError(f"refusing to collect: {problem}")
    total = 0
    while total < n and total // k < len(per_scene[total % k]):
        total += 1
    poses = np.array([per_scene[i % k][i // k] for i in range(total)], dtype=np.float64).reshape(total, 4, 4)
    return poses, np.arange(total) % k, reports, failure


def run(cfg: DictConfig) -> dict:
    check_config(cfg)
    rd = open_run_dir(cfg, may_differ=("frames",))
    split_dir = rd.path
    scenes = build_scenes(cfg)
    for s in scenes:  # loaders load a scan without its annotation files; only split=pretrain can use it
        if cfg.split != "pretrain" and "(unlabelled: missing" in s.source:
            raise CollectError(f"split={cfg.split} needs labels, but scene {s.scene_id!r} has none: {s.source}. "
                               f"Add the annotation file(s), or collect split=pretrain (no labels needed)")
    class_names, lookups = merge_vocabularies(scenes)
    poses, scene_index, reports, failure = plan(cfg, scenes)
    if len(poses) == 0:
        raise CollectError(f"the policy planned no camera pose, nothing was written to {split_dir}: {failure}")
    if len(poses) < cfg.frames and failure is None:  # e.g. policy=explore reached its coverage target
        log.warning("policy=%s stopped after %d of frames=%d poses (%s); collecting those",
                    cfg.policy._target_.rsplit(".", 1)[-1], len(poses), cfg.frames, reports)
    res = int(cfg.resolution)
    job = CollectJob(split_dir=split_dir, split=cfg.split, scenes=scenes, poses=poses, scene_index=scene_index,
                     intrinsics=Intrinsics.from_fov(res, res, float(cfg.hfov)), modalities=SPLITS[cfg.split],
                     extras=tuple(cfg.extras), class_lookup=lookups, shard_size=int(cfg.shard_size),
                     rgb_format=cfg.rgb_format, seed=int(cfg.seed), camera=camera_from_config(cfg.get("camera")))
    todo = pending_shards(job)
    already = job.num_frames - sum(len(job.shard_range(k)) for k in todo)
    renderer_spec = OmegaConf.to_container(cfg.renderer, resolve=True)
    workers = min(int(cfg.workers), max(1, len(todo)))
    options = OmegaConf.to_container(cfg, resolve=True)
    with make_logger(cfg, split_dir, name=f"collect-{cfg.split}") as logger:
        bar = tqdm(total=job.num_frames, initial=already, unit="frame", desc=f"collect {cfg.split}",
                   disable=not cfg.get("progress", True), dynamic_ncols=True)

        done = [already]  # frames on disk so far (tqdm keeps no count when disabled)

        def progress(n: int) -> None:
            bar.update(n)
            done[0] += n
            if done[0] % job.shard_size == 0 or done[0] == job.num_frames:  # log once per shard
                logger.log({"collect/frames_done": done[0]}, step=done[0])

        t0 = time.perf_counter()
        try:
            rendered = collect(job, functools.partial(instantiate, renderer_spec, _convert_="object"), todo,
                               workers=workers, render_threads=int(renderer_spec.get("threads", 0)),
                               encode_threads=min(4, os.cpu_count() or 1) if workers == 1 else 1, progress=progress)
        finally:
            bar.close()
        seconds = time.perf_counter() - t0

        per_scene = {s.scene_id: int((scene_index == j).sum()) for j, s in enumerate(scenes)}
        manifest = build_manifest(
            split=cfg.split, scenes=scenes, class_names=class_names, modalities=[*job.modalities, *job.extras],
            members=job.member_suffixes(), frames_requested=int(cfg.frames), frames_written=job.num_frames,
            per_scene=per_scene, seed=int(cfg.seed), config=options, split_dir=split_dir, policy_reports=reports,
            intrinsics=job.intrinsics.to_dict(), shard_size=job.shard_size)
        write_json(rd.file("manifest.json"), manifest)
        metrics = rd.write_metrics({"collect/frames": job.num_frames, "collect/frames_rendered": rendered,
                                    "collect/seconds": round(seconds, 3),
                                    "collect/frames_per_s": round(rendered / seconds, 2) if seconds > 0 else 0.0})
        logger.log(metrics, step=job.num_frames)
        logger.summary(metrics)
    if failure is not None:
        raise CollectError(f"the policy could not reach frames={cfg.frames}: {failure}. Kept the {job.num_frames} "
                           f"frames it could plan in {split_dir} (manifest.json says complete=false).")
    manifest.update(finish_split(Path(split_dir), scenes, manifest, options))
    write_json(rd.file("manifest.json"), manifest)
    return {**metrics, "split_dir": str(split_dir), "content_hash": manifest["content_hash"]}
