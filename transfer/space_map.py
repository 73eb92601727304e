"""The test space's semantic map: a semseg head's predictions over the space's posed views, fused per voxel.

    tst transfer task=semseg … self_train.data=<the test space's unlabelled split>   # writes space_map.npz

Why: the space is known, so a deployed agent that knows its depth and pose can read labels from a 3-D
map of it instead of trusting one view. Fused predictions are better than each view's own: on
development space 0 a ``tst_vit_cpu`` head scored 33.2 mIoU on the eval views, and its predictions over
the 1024 pretraining views, fused in 0.1 m voxels and read back at the eval pixels, 39.0
(``tst.transfer.space_fusion``). Self-training moves the RGB-only head a fifth of that way; the map
keeps all of it for agents with depth and pose. No test-space label is read: the map is built from the
unlabelled pretraining views, and the eval split is only scored.

The map is built after self-training, from the head that is deployed, and saved next to it as
``space_map.npz`` (``VoxelVotes.save``); the perception plugin reads it (``tst.transfer.perception``).
``score`` reports ``<task>/map_mIoU`` and ``<task>/map_pixel_acc``: the eval views labelled by the map
where their voxel has votes and by the head elsewhere, with the eval split's own depth and pose, and
``<task>/map_coverage``, the share of eval pixels the map labelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tst.dataset import ShardDataset
from tst.modalities import decode_depth
from tst.shards import read_manifest
from tst.transfer.space_colour import ColourCalibration
from tst.transfer.space_fusion import VoxelVotes

MAP_FILE = "space_map.npz"  # in the transfer run directory, next to head.pt


def posed_views(split: str | Path, what: str) -> tuple[np.ndarray, list[np.ndarray], list[dict]]:
    """rgb uint8 [N, H, W, 3], depth in metres per view, and each view's meta (intrinsics, cam_to_world).

    ``what`` names the setting that chose ``split`` in the error a view without a pose raises."""
    ds = ShardDataset(split, ("rgb", "depth"), stored=True)  # rgb uint8 [3, H, W], depth uint16 mm [1, H, W]
    rgb, depth, meta = [], [], []
    for i in range(len(ds)):
        s = ds[i]
        m = s.get("meta") or {}
        if "intrinsics" not in m or "cam_to_world" not in m:
            raise ValueError(f"{what}={split}: sample {i} has no intrinsics / cam_to_world in its meta.json; "
                             f"a space map needs posed views (a split written by `tst collect`)")
        rgb.append(s["rgb"].permute(1, 2, 0).numpy())
        depth.append(decode_depth(s["depth"][0].numpy()))
        meta.append(m)
    return np.stack(rgb), depth, meta


@torch.no_grad()
def predict_views(task, model, rgb: np.ndarray, size: int, batch_size: int, device: torch.device,
                  colour: ColourCalibration | None = None) -> np.ndarray:
    """The head's class ids [N, H, W] at the views' own size (``task.perceive`` resizes in and back), the views
    seen through the space's ``colour`` calibration as the plugin sees them."""
    model.eval()
    out = []
    for i in range(0, len(rgb), batch_size):
        x = torch.from_numpy(rgb[i:i + batch_size]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        x = colour(x) if colour is not None else x
        out += [task.pixel_classes(o) for o in task.perceive(model, x, size)]
    return np.stack(out)


def fuse(task, pred: np.ndarray, depth: list[np.ndarray], meta: list[dict], voxel: float) -> VoxelVotes:
    """Per-view class ids [N, H, W] with their depth and pose -> the counted votes."""
    votes = VoxelVotes(int(task.ids.max()) + 1, voxel)
    for p, d, m in zip(pred, depth, meta):
        votes.add(p, d, m["intrinsics"], np.asarray(m["cam_to_world"]))
    return votes.finish()


def build(task, model, split: str | Path, voxel: float, size: int, batch_size: int,
          device: torch.device, colour: ColourCalibration | None = None) -> VoxelVotes:
    """The map of ``split``'s views as ``model`` predicts them (through the space's ``colour`` calibration)."""
    rgb, depth, meta = posed_views(split, "self_train.data")
    return fuse(task, predict_views(task, model, rgb, size, batch_size, device, colour), depth, meta, voxel)


def read_labels(votes: VoxelVotes, classes: np.ndarray, depth: np.ndarray, intrinsics, cam_to_world: np.ndarray,
                min_votes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A view's class ids [H, W] with the map's label wherever its voxel has votes; and that mask."""
    fused = votes.labels(depth, intrinsics, np.asarray(cam_to_world), min_votes)
    return np.where(fused > 0, fused, classes), fused > 0


def posed(split: str | Path | None) -> bool:
    """Whether ``split`` is a shard split with depth (its views then carry the pose ``score`` needs)."""
    p = Path(split) if split is not None else None
    return p is not None and (p / "manifest.json").is_file() and "depth" in (read_manifest(p).get("modalities") or ())


@torch.no_grad()
def score(task, model, votes: VoxelVotes, split: str | Path, size: int, batch_size: int, device: torch.device,
          min_votes: int = 1, colour: ColourCalibration | None = None) -> dict[str, float]:
    """``split``'s views labelled by the map (the head where it has no votes, on views through the space's
    ``colour`` calibration), scored by the task's evaluator."""
    rgb, depth, meta = posed_views(split, "val")
    truth = ShardDataset(split, tuple(m for m in task.modalities if m != "rgb"))  # the members scoring reads
    head = predict_views(task, model, rgb, size, batch_size, device, colour)
    ev, covered = task.evaluator(), 0
    for i, (p, d, m) in enumerate(zip(head, depth, meta)):
        labels, hit = read_labels(votes, p, d, m["intrinsics"], m["cam_to_world"], min_votes)
        covered += int(hit.sum())
        gts = task.ground_truth({k: v[None] for k, v in truth[i].items() if isinstance(v, torch.Tensor)}, [i])
        ev.process(gts, [task.with_space_labels({}, labels, task.class_names)])
    got = ev.evaluate()
    name = task.name
    return {f"{name}/map_mIoU": got[f"{name}/mIoU"], f"{name}/map_pixel_acc": got[f"{name}/pixel_acc"],
            f"{name}/map_coverage": round(100.0 * covered / max(1, head.size), 2)}


def space_of(split: str | Path) -> str | None:
    """The scene hash of the one space a split shows (its manifest's ``scene_hashes``); None for several."""
    hashes = read_manifest(split).get("scene_hashes") or {}
    return next(iter(hashes.values())) if len(hashes) == 1 else None


def same_space(a: str | Path, b: str | Path) -> bool:
    """Whether two splits show the same single space, so that one's map can label the other's views: a map
    of space i looked up with space j's poses reads unrelated voxels."""
    return space_of(a) is not None and space_of(a) == space_of(b)


def after_self_train(cfg, task, model, device: torch.device, run_dir: Path,
                     colour: ColourCalibration | None = None) -> dict[str, float]:
    """Build the map of ``self_train.data`` with the self-trained head, save it as ``MAP_FILE`` (and its picture,
    ``IMAGE_FILE``) in ``run_dir`` and, when ``val`` is a posed split of the same space (``same_space``), score
    the eval views with it."""
    st = cfg.self_train
    size, bs = int(cfg.image_size), int(cfg.eval_batch_size)
    votes = build(task, model, str(st.data), float(st.voxel), size, bs, device, colour)
    votes.space = space_of(st.data)
    votes.save(Path(run_dir) / MAP_FILE)
    from tst.transfer.space_map_image import (  # matplotlib: not on the plugin's import path
        IMAGE_FILE,
        save_image,
    )

    save_image(votes, task.class_names, Path(run_dir) / IMAGE_FILE)  # the same map, for a person to look at
    out = {"self_train/map_voxels": len(votes.keys)}
    if posed(cfg.val) and same_space(st.data, cfg.val):  # another space's views (the matrix) have no map
        out.update(score(task, model, votes, cfg.val, size, bs, device, int(st.min_votes), colour))
    return out


def rescore_detections(out: dict, labels: np.ndarray, seg_to_det: np.ndarray, min_share: float = 0.2) -> dict:
    """Detections of one view weighed against the view's space labels (``read_labels``: the map where its
    voxels have votes, the semseg head elsewhere).

    Why: a detector trained on other spaces finds objects better than it names them (on development space
    0, naming each box by the true class inside it took AP50 from 26.5 to 38.1). Inside each box, the
    share of pixels that the labels give to each detection class is evidence for that name: the box's own
    score is scaled by ``0.5 + 0.5 * share of its class``, and every other class holding at least
    ``min_share`` of those pixels adds a copy of the box at ``score * share``. Measured on development
    space 0 (a ``tst_vit_cpu`` detector, 1500 steps, and its space's map): AP50 26.5 -> 30.7, AP 13.4 -> 15.0.
    ``seg_to_det``: semseg class id -> detection class id (0: not a detection class). Boxes in pixels."""
    boxes, scores, names = out["boxes"], out["scores"], out["labels"]
    if not len(boxes):
        return out
    ok = (labels >= 0) & (labels < len(seg_to_det))  # an id outside the map's vocabulary names no detection class
    det_ids = np.where(ok, seg_to_det[np.where(ok, labels, 0)], 0)  # [H, W] detection class per pixel
    h, w = det_ids.shape
    k = int(seg_to_det.max()) + 1
    new_scores, extra = scores.clone(), []
    for i, (b, s, c) in enumerate(zip(boxes.tolist(), scores.tolist(), names.tolist())):
        x0, y0 = min(max(int(round(b[0])), 0), w - 1), min(max(int(round(b[1])), 0), h - 1)
        x1, y1 = max(int(round(b[2])), x0 + 1), max(int(round(b[3])), y0 + 1)
        counts = np.bincount(det_ids[y0:y1, x0:x1].reshape(-1), minlength=k)[1:]  # [K - 1]: class 1 ..
        if not counts.sum():
            continue  # no detection class inside: nothing to weigh the name against
        share = counts / counts.sum()
        own = float(share[c - 1]) if 0 < c < k else 0.0
        new_scores[i] = s * (0.5 + 0.5 * own)
        extra += [(i, j + 1, s * float(share[j])) for j in np.flatnonzero(share >= min_share) if j + 1 != c]
    if not extra:
        return {**out, "scores": new_scores}
    idx = torch.tensor([e[0] for e in extra])
    return {**out, "boxes": torch.cat([boxes, boxes[idx]]),
            "scores": torch.cat([new_scores, torch.tensor([e[2] for e in extra], dtype=scores.dtype)]),
            "labels": torch.cat([names, torch.tensor([e[1] for e in extra], dtype=names.dtype)])}


def class_map_by_name(src: dict[int, str], dst: dict[int, str]) -> np.ndarray:
    """src class id -> the dst id of the same name (0 where dst has none): semseg ids -> detection ids."""
    by_name = {n: i for i, n in dst.items()}
    lut = np.zeros(max(src, default=0) + 1, dtype=np.int64)
    for i, n in src.items():
        lut[i] = by_name.get(n, 0)
    return lut
