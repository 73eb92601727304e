"""How close held-out views come to pretraining views of the same space (train/test leakage).

Eval views of the test space must not be the pretraining views seen again, or deployment numbers
measure memorisation. Two views "leak" when their cameras are both close in position AND look in
nearly the same direction; a camera 10 cm away looking the other way sees a different image. So the
report gives, for each eval view, its nearest pretrain view by position with the distance (metres)
and the angle between optical axes (degrees), and the fraction of eval views that have a pretrain
view within ``max_dist`` and ``max_angle`` at once. ``enforce_separation`` keeps the eval views that
have none within ``min_dist`` and ``min_angle`` (the collector applies it to planned poses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tst.shards import decode_member, iter_split

CHUNK = 1024  # eval views per block: keeps the [chunk, M] distance matrix small for 10k x 10k


def _as_poses(poses) -> np.ndarray:
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (4, 4):
        raise ValueError(f"poses must be [N, 4, 4] cam_to_world matrices, got shape {p.shape}")
    return p


def _pairwise(eval_poses: np.ndarray, ref_poses: np.ndarray):
    """Yield (slice, dist [c, M] metres, angle [c, M] degrees) over chunks of eval views."""
    ref_pos, ref_dir = ref_poses[:, :3, 3], ref_poses[:, :3, 2]  # [M, 3] positions, optical axes
    ref_dir = ref_dir / np.linalg.norm(ref_dir, axis=1, keepdims=True)
    for start in range(0, len(eval_poses), CHUNK):
        sl = slice(start, start + CHUNK)
        pos, axis = eval_poses[sl, :3, 3], eval_poses[sl, :3, 2]  # [c, 3]
        axis = axis / np.linalg.norm(axis, axis=1, keepdims=True)
        dist = np.linalg.norm(pos[:, None] - ref_pos[None], axis=-1)  # [c, M]
        angle = np.degrees(np.arccos(np.clip(axis @ ref_dir.T, -1.0, 1.0)))  # [c, M]
        yield sl, dist, angle


def nearest_pretrain(eval_poses, pretrain_poses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each eval pose: index of the nearest pretrain pose by position, its distance, its angle.

    Returns (index [N] int, dist [N] metres, angle [N] degrees).
    """
    ev, ref = _as_poses(eval_poses), _as_poses(pretrain_poses)
    if len(ref) == 0:
        raise ValueError("no pretrain poses to compare with: the reference split is empty")
    idx = np.zeros(len(ev), np.int64)
    dist = np.zeros(len(ev))
    angle = np.zeros(len(ev))
    for sl, d, a in _pairwise(ev, ref):
        j = d.argmin(axis=1)  # [c]
        rows = np.arange(len(j))
        idx[sl], dist[sl], angle[sl] = j, d[rows, j], a[rows, j]
    return idx, dist, angle


def close_mask(eval_poses, pretrain_poses, max_dist: float, max_angle: float) -> np.ndarray:
    """[N] bool: the eval view has some pretrain view closer than max_dist AND max_angle (strictly)."""
    ev, ref = _as_poses(eval_poses), _as_poses(pretrain_poses)
    out = np.zeros(len(ev), bool)
    if len(ref) == 0:
        return out
    for sl, d, a in _pairwise(ev, ref):
        out[sl] = ((d < max_dist) & (a < max_angle)).any(axis=1)
    return out


def enforce_separation(eval_poses, pretrain_poses, min_dist: float, min_angle: float) -> list[int]:
    """Indices of the eval poses to keep: those with no pretrain pose within min_dist and min_angle."""
    return [int(i) for i in np.flatnonzero(~close_mask(eval_poses, pretrain_poses, min_dist, min_angle))]


def leakage_report(eval_poses, pretrain_poses, max_dist: float = 0.5, max_angle: float = 30.0,
                   eval_keys: list[str] | None = None, pretrain_keys: list[str] | None = None) -> dict:
    """The manifest's ``leakage`` entry: thresholds, fraction of eval views too close, per-view nearest."""
    idx, dist, angle = nearest_pretrain(eval_poses, pretrain_poses)
    close = close_mask(eval_poses, pretrain_poses, max_dist, max_angle)
    eval_keys = eval_keys or [str(i) for i in range(len(idx))]
    pretrain_keys = pretrain_keys or [str(i) for i in range(len(_as_poses(pretrain_poses)))]
    return {
        "max_dist": float(max_dist), "max_angle": float(max_angle),
        "eval_views": int(len(idx)), "pretrain_views": int(len(pretrain_keys)),
        "fraction_close": float(close.mean()) if len(close) else 0.0,
        "nearest_dist": {"min": float(dist.min()), "median": float(np.median(dist)), "mean": float(dist.mean())},
        "nearest_angle": {"min": float(angle.min()), "median": float(np.median(angle)),
                          "mean": float(angle.mean())},
        "per_view": [{"key": eval_keys[i], "nearest": pretrain_keys[int(idx[i])], "dist": round(float(dist[i]), 4),
                      "angle": round(float(angle[i]), 3), "close": bool(close[i])} for i in range(len(idx))],
    }


def split_poses(split_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """(sample keys, cam_to_world [N, 4, 4]) of a split, decoding only the meta members."""
    keys, poses = [], []
    for sample in iter_split(split_dir, decode=False):
        if "meta" not in sample:
            raise ValueError(f"{split_dir}: sample {sample['__key__']} has no meta member (K.meta.json)")
        meta = decode_member("meta.json", sample["meta"])
        keys.append(sample["__key__"])
        poses.append(np.asarray(meta["cam_to_world"], dtype=np.float64))
    return keys, np.stack(poses) if poses else np.zeros((0, 4, 4))
