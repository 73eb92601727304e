"""The test space's colour calibration: its views' colours brought into the range the labelled spaces span.

    tst transfer task=semseg … self_train.data=<the test space's unlabelled split>   # writes space_colour.json

Why: a head learns the colours of the spaces it was labelled on. A test space seen through another
camera (white balance, exposure, a scan's baked lighting) shows the same objects in other colours,
and the head fails there although nothing else changed. Measured on development space 0 with the
demo's heads (``tst_vit_test``, 500 steps on 48 procedural spaces): a warmer white balance, gamma 0.7,
a slight blur and sensor noise took semseg from 21.9–23.1 mIoU to 9.0–9.5 for every init. The
space's unlabelled views measure its colours (per-channel mean and spread), so each channel is moved
by one affine map until they fall inside the range the labelled spaces' own means and spreads span;
that took the same heads back to 18.8–20.3. Inside that range nothing is moved: a space whose colours
the labelled spaces already cover is left exactly as it is (aligning those too cost 0.3–1.5 mIoU on
never-used spaces 9–11, whose colours differ because their furniture does). A labelled set without spaces (a COCO
or image folder, no ``meta.scene_id``) counts as one, whose range is a point: the space's colours are then moved
to its mean and spread.

``ColourCalibration`` holds the map (``rgb * scale + shift``, rgb in [0, 1], clipped to it) and is
saved next to the head (``space_colour.json``); ``tst.transfer.perception`` applies it to every view
of that space, for every head it loads from the same runs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

COLOUR_FILE = "space_colour.json"  # in the transfer run directory, next to head.pt and space_map.npz


@dataclass(frozen=True)
class Moments:
    """Per-channel colour mean and standard deviation of a set of views, rgb in [0, 1]."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class MomentSum:
    """Running per-channel sums of rgb views, so a whole split need not be held in memory."""

    def __init__(self) -> None:
        self.n, self.s, self.s2 = 0, np.zeros(3), np.zeros(3)

    def add(self, rgb: np.ndarray) -> None:
        """rgb float [..., 3] in [0, 1] (channels last)."""
        x = np.asarray(rgb, np.float64).reshape(-1, 3)
        self.n += len(x)
        self.s += x.sum(0)
        self.s2 += (x * x).sum(0)

    def moments(self) -> Moments:
        if not self.n:
            raise ValueError("no views to measure colours on")
        mean = self.s / self.n
        std = np.sqrt(np.maximum(self.s2 / self.n - mean * mean, 0.0))
        return Moments(tuple(mean.tolist()), tuple(std.tolist()))


def channels_last(rgb: torch.Tensor | np.ndarray) -> np.ndarray:
    """One view as float [H, W, 3] in [0, 1]: a float tensor [3, H, W] (datasets) or uint8 [H, W, 3] (stored)."""
    if isinstance(rgb, torch.Tensor):
        rgb = rgb.detach().cpu()
        return (rgb.permute(1, 2, 0) if rgb.shape[0] == 3 else rgb).float().numpy() / (255.0 if rgb.dtype == torch.uint8 else 1.0)
    a = np.asarray(rgb)
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


def per_space(views: Iterable[tuple[str, torch.Tensor | np.ndarray]]) -> dict[str, Moments]:
    """(space id, one rgb view) pairs -> each space's colour moments."""
    sums: dict[str, MomentSum] = defaultdict(MomentSum)
    for space, rgb in views:
        sums[space].add(channels_last(rgb))
    return {k: s.moments() for k, s in sums.items()}


@dataclass(frozen=True)
class ColourCalibration:
    """``rgb * scale + shift`` per channel (rgb in [0, 1], clipped to it), with what it was fitted on."""
    scale: tuple[float, float, float]
    shift: tuple[float, float, float]
    space: Moments                       # the test space's colours
    target: Moments                      # where they are moved: into the labelled spaces' range
    labelled_spaces: int                 # how many spaces spanned that range
    space_hash: str | None = None        # the calibrated space's scene hash: no other space's views use it

    @property
    def identity(self) -> bool:
        return self.scale == (1.0, 1.0, 1.0) and self.shift == (0.0, 0.0, 0.0)

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb float [B, 3, H, W] in [0, 1] -> calibrated, same shape."""
        if self.identity:
            return rgb
        scale = torch.tensor(self.scale, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        shift = torch.tensor(self.shift, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        return (rgb * scale + shift).clamp_(0.0, 1.0)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ColourCalibration:
        try:
            d = json.loads(Path(path).read_text())
            return cls(scale=tuple(d["scale"]), shift=tuple(d["shift"]), space=_moments(d["space"]),
                       target=_moments(d["target"]), labelled_spaces=int(d["labelled_spaces"]),
                       space_hash=d.get("space_hash"))
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a colour calibration written by `tst transfer` ({e}); delete it, or run "
                             f"the transfer again with self_train.data set") from e


def _moments(d: dict) -> Moments:
    return Moments(tuple(d["mean"]), tuple(d["std"]))


def fit(space: Moments, labelled: Iterable[Moments], space_hash: str | None = None) -> ColourCalibration:
    """The map that moves ``space``'s per-channel mean and spread to the nearest values inside the range the
    ``labelled`` spaces' own means and spreads span (the identity when they already lie inside it)."""
    labelled = list(labelled)
    if not labelled:
        raise ValueError("fit: no labelled spaces to calibrate the test space's colours against")
    means, stds = np.array([m.mean for m in labelled]), np.array([m.std for m in labelled])  # [S, 3]
    mean, std = np.asarray(space.mean), np.asarray(space.std)
    t_mean = np.clip(mean, means.min(0), means.max(0))
    t_std = np.clip(std, stds.min(0), stds.max(0))
    scale = np.where(std > 1e-6, t_std / np.maximum(std, 1e-6), 1.0)  # a flat channel keeps its spread
    shift = t_mean - scale * mean
    same = (t_mean == mean) & (t_std == std)  # exactly in range: leave the channel untouched
    scale, shift = np.where(same, 1.0, scale), np.where(same, 0.0, shift)
    return ColourCalibration(tuple(float(v) for v in scale), tuple(float(v) for v in shift), space,
                             Moments(tuple(t_mean.tolist()), tuple(t_std.tolist())), len(labelled), space_hash)


def labelled_spaces(ds, indices: Iterable[int]) -> dict[str, Moments]:
    """The colour moments of each space in a labelled training set (its samples' ``meta.scene_id``; a set
    without one, such as a COCO folder, counts as one space)."""
    def views():
        for i in indices:
            item = ds[i]
            yield str((item.get("meta") or {}).get("scene_id", "all")), item["rgb"]
    return per_space(views())


def calibrate_split(split: str | Path, labelled_ds, indices: Iterable[int], space_hash: str | None = None
                    ) -> ColourCalibration:
    """The test space's views (a shard split; its rgb is all that is read) calibrated against the spaces of a
    labelled training set (``labelled_spaces``)."""
    from tst.dataset import ShardDataset

    views = ShardDataset(split, ("rgb",), stored=True)  # rgb uint8 [3, H, W]
    s = MomentSum()
    for i in range(len(views)):
        s.add(channels_last(views[i]["rgb"]))
    return fit(s.moments(), labelled_spaces(labelled_ds, indices).values(), space_hash)


def describe(c: ColourCalibration) -> str:
    """One line for the log: what the calibration does to the space's views."""
    if c.identity:
        return "inside the labelled spaces' range: left as they are"
    fmt = lambda v: "/".join(f"{x:.2f}" for x in v)  # noqa: E731
    return f"calibrated into the labelled spaces' range (r/g/b scale {fmt(c.scale)}, shift {fmt(c.shift)})"


def colour_metrics(c: ColourCalibration) -> dict[str, float]:
    """What the run's metrics record of the calibration: whether it moved the space's colours, and how far
    (the largest change of a channel's mean, in 0–255 levels)."""
    moved = max(abs(a - b) for a, b in zip(c.space.mean, c.target.mean)) * 255.0
    return {"self_train/colour_calibrated": 0.0 if c.identity else 1.0,
            "self_train/colour_mean_shift": round(float(moved), 2)}
