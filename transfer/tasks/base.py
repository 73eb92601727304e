"""The task protocol: everything the runners (transfer, deploy, the perception plugin) ask of a task.

A task is one class in one file (``semseg.py``, ``det.py``, ``caption.py``, ``depth.py``) registered in
``tst.transfer.tasks.TASKS``; its names and metric keys are its entry of ``tst.tasks.TASKS`` (``info``),
which is what sweeps and reports read without importing this stage. The runners hold no task names:

- built from the ``task=`` config (``from_config``) or back from a head's ``head_config``
  (``from_head_config``, the round trip of ``head_config()`` + ``save_artifacts(dir)``);
- training: ``build_model(encoder)``, ``loss(model, batch) -> {"loss", …}``;
- evaluation: ``predict(model, batch) -> outputs``, ``ground_truth(batch, image_ids) -> inputs`` and
  ``evaluator()`` (detectron2's ``reset / process(inputs, outputs) / evaluate``), driven by the one loop
  of ``tst.transfer.evaluation``; predictions written by ``write_batch`` / ``write_results``;
  ``draw(ax, image, item)`` fills a panel of the transfer preview;
- deploy: ``scoring_task(...)`` (the ground-truth task in the eval split's vocabulary), ``to_eval_ids``
  and ``overlay_row`` (rgb | truth | prediction);
- plugin: ``perceive(model, rgb, size)`` (the task's outputs at the observation's size) and
  ``plugin_output(output, score_threshold)`` (the plain-numpy dict an agent gets).

Batches are ``tst.dataset.collate`` dicts (``rgb`` [B, 3, H, W] in [0, 1]).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tst.tasks import TaskInfo


@dataclass
class TaskSpec:
    """What ``tst transfer`` hands a task class to build itself: the plain ``task:`` config block, the
    input size, the vocabulary the head predicts (id -> name), the external-id lut onto it, and the
    training samples (a dataset and the indices that train)."""

    config: Mapping[str, Any]
    image_size: int
    classes: Mapping[int, str] = field(default_factory=dict)
    label_lut: np.ndarray | None = None
    train: Any = None
    train_indices: Sequence[int] = ()


def at_size(rgb: torch.Tensor, size: int) -> torch.Tensor:
    """rgb [B, 3, H, W] resized (bilinear) to the ``size`` x ``size`` its head runs at; as it is when it already is."""
    if tuple(rgb.shape[-2:]) == (size, size):
        return rgb
    return F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False)


class Task(ABC):
    """The protocol with its shared defaults; a subclass sets ``info`` and implements every abstract method
    (a task missing one cannot be instantiated)."""

    info: TaskInfo
    collect_hint = "collect it with split=eval"  # how to get the members deploy scores against

    name: str  # = info.name, set per subclass
    modalities: tuple[str, ...]  # = info.modalities

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "info" in cls.__dict__:  # readable on the class: the registry and deploy's member check
            cls.name, cls.modalities = cls.info.name, cls.info.modalities

    # ---- config round trip
    @classmethod
    @abstractmethod
    def from_config(cls, spec: TaskSpec) -> Task:
        """The task ``tst transfer`` trains, from its ``task:`` config block."""

    @classmethod
    @abstractmethod
    def from_head_config(cls, head_config: Mapping[str, Any], run_dir: Path) -> Task:
        """The task back from ``head_config()`` (+ what ``save_artifacts`` wrote into ``run_dir``)."""

    @abstractmethod
    def head_config(self) -> dict[str, Any]:
        """Plain data stored in ``head.pt``: ``{"task": name, …}``, enough to rebuild the model."""

    # ---- training and evaluation
    @abstractmethod
    def build_model(self, encoder: nn.Module) -> nn.Module:
        """The task model on ``encoder`` (encoder + head)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar, …}`` of one training batch."""

    @abstractmethod
    def predict(self, model: nn.Module, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One output dict per sample (what the evaluator's ``process`` takes as outputs)."""

    @abstractmethod
    def ground_truth(self, batch: Mapping[str, Any], image_ids: list[int]) -> list[dict[str, Any]]:
        """One ground-truth dict per sample (the evaluator's inputs)."""

    @abstractmethod
    def evaluator(self) -> Any:
        """A fresh evaluator (``reset / process / evaluate -> {"<task>/<metric>": number}``)."""

    @abstractmethod
    def draw(self, ax: Any, image: np.ndarray, item: Mapping[str, Any]) -> None:
        """Fill one matplotlib panel of the transfer preview with a ground truth or an output."""

    @abstractmethod
    def overlay_row(self, big: np.ndarray, f: int, gt: Mapping, out: Mapping, threshold: float) -> np.ndarray:
        """Deploy's overlay row: rgb enlarged ``f`` times (``big``) | truth | prediction."""

    @abstractmethod
    def plugin_output(self, o: Mapping[str, Any], score_threshold: float) -> dict[str, Any]:
        """One output as the agent gets it: ``{key: numpy array or str}``."""

    def save_artifacts(self, out_dir: str | Path) -> list[Path]:
        return []

    # ---- predictions of `tst transfer`
    def write_batch(self, out_dir: Path, keys: Sequence[str], outputs: Sequence[dict]) -> None:
        """Write this batch's predictions (dense tasks: one file per sample); default: nothing."""
        return None

    def write_results(self, evaluator: Any, out_dir: Path) -> Path | None:
        """Write the whole split's results file (COCO-style tasks); default: nothing."""
        return None

    # ---- deploy
    def scoring_task(self, covered: Mapping[int, str] | None, keep: np.ndarray | None, image_size: int,
                     options: Mapping[str, Any], trained: Mapping[str, Any]) -> Task:
        """The task whose ``ground_truth`` / ``evaluator`` score this head on an eval split. Vocabulary
        tasks get the eval classes the head covers and ``keep`` (eval id -> itself when covered, else 0);
        ``options`` are deploy's ``<task>_<option>`` fields, ``trained`` the transfer run's ``task:`` block.
        Default: the head's own task."""
        return self

    def to_eval_ids(self, outputs: list[dict], lut: np.ndarray | None) -> list[dict]:
        """Head-vocabulary predictions -> eval-vocabulary ids; default (no vocabulary): as they are."""
        return outputs

    # ---- plugin
    def perceive(self, model: nn.Module, rgb: torch.Tensor, size: int) -> list[dict[str, Any]]:
        """rgb float [B, 3, H, W] -> outputs at H x W: the model runs at ``size`` x ``size``."""
        h, w = rgb.shape[-2:]
        outs = self.predict(model, {"rgb": at_size(rgb, size)})
        return outs if (h, w) == (size, size) else self.resize_outputs(outs, (h, w))

    def resize_outputs(self, outputs: list[dict], hw: tuple[int, int]) -> list[dict]:
        """Outputs at the model's size -> at ``hw``; default: nothing spatial to resize."""
        return outputs

    # ---- the test space's map (tst.transfer.space_map), for tasks whose info says self_trains / map_aware
    def pixel_classes(self, output: Mapping[str, Any]) -> np.ndarray:
        """One output's per-pixel class ids [H, W] (what the space map fuses); only tasks that self-train."""
        raise NotImplementedError(f"task {self.name} has no per-pixel classes to fuse into a space map")

    def with_space_labels(self, output: dict[str, Any], labels: np.ndarray, names: Mapping[int, str]) -> dict:
        """One output corrected by the view's space labels [H, W] (class ids of ``names``: the map where its
        voxels have votes, the mapping head elsewhere); default: unchanged."""
        return output

    def in_space(self, model: nn.Module, rgb: torch.Tensor, size: int, outputs: list[dict[str, Any]],
                 labels: Sequence[np.ndarray], names: Mapping[int, str]) -> list[dict[str, Any]]:
        """``perceive``'s outputs of rgb [B, 3, H, W] corrected by the views' space labels; a task whose model
        can use the labels while it predicts (caption: decoding under them) runs it again here. Default: each
        output through ``with_space_labels``."""
        return [self.with_space_labels(o, lab, names) for o, lab in zip(outputs, labels)]
