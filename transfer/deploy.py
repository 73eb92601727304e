"""``tst deploy``: evaluate transferred heads back in the test space, and (``agent=true``) walk in it.

    tst deploy heads=[runs/tr_semseg,runs/tr_det,runs/tr_caption] data=<eval split dir> out=runs/deploy/x

The point of test-space training is the model that runs *in* the space, so the heads are loaded
exactly as an agent would load them (``tst.transfer.perception.Perception``) and scored on the
held-out ``eval`` split with the transfer tasks' own ground truth and evaluators (each task's
``scoring_task``, through the evaluation loop transfer uses too): semseg mIoU (and per class), COCO box
AP from the renderer's instance masks, caption scores against the split's ``K.caption.json``
references, depth AbsRel / RMSE / δ<1.25 against the rendered depth. A head's vocabulary is mapped onto the split's by class name;
head classes without a counterpart, and split classes no head can predict (ignored in scoring),
are reported. The run directory gets ``metrics.json``, ``report.md``, ``overlays/<key>.png``
(rgb | ground truth | prediction, one row per head) and, with ``agent=true``, the agent demo's GIF
and top-down map (``tst.transfer.agent_demo``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from tst.dataset import ShardDataset
from tst.rundir import open_run_dir
from tst.runlog import make_logger
from tst.shards import read_manifest
from tst.transfer import overlay as ov
from tst.transfer.class_map import as_vocab, map_classes
from tst.transfer.deploy_report import write_report
from tst.transfer.evaluation import evaluate_loop
from tst.transfer.perception import Perception, head_dirs
from tst.transfer.space_map import space_of


def check_config(cfg: DictConfig) -> list[Path]:
    """Fail before any work, naming the field and the fix; returns the head files."""
    def bad(field: str, value: Any, fix: str) -> None:
        raise ValueError(f"deploy config: {field}={value!r} is invalid; {fix}")

    if cfg.heads in (None, "???") or (not isinstance(cfg.heads, str) and len(cfg.heads) == 0):
        bad("heads", cfg.heads, "list transfer run directories: heads=[runs/transfer/a,runs/transfer/b]")
    if not cfg.data or not (Path(cfg.data) / "manifest.json").is_file():
        bad("data", cfg.data, "give the eval split directory written by `tst collect split=eval` (with manifest.json)")
    for key in ("eval_batch_size",):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            bad(key, cfg[key], "it must be an integer >= 1")
    if cfg.max_samples is not None and (not isinstance(cfg.max_samples, int) or cfg.max_samples < 1):
        bad("max_samples", cfg.max_samples, "null (all) or an integer >= 1")
    heads = [cfg.heads] if isinstance(cfg.heads, str) else list(cfg.heads)
    return head_dirs(heads)


class HeadEval:
    """One head's scoring on the eval split: vocabulary map (tasks that predict class ids), the ground-truth
    task in the eval split's vocabulary, its evaluator. ``options``: deploy's ``<task>_<option>`` fields
    (``det_min_pixels`` -> ``{"min_pixels": …}``)."""

    def __init__(self, name: str, perception: Perception, eval_vocab: dict[int, str], synonyms: dict | None,
                 options: dict[str, Any] | None = None):
        self.name, self.unmapped, self.uncovered = name, [], []
        self.task = perception.task(name)
        self.lut = None  # head id -> eval id
        covered = keep = None
        if self.task.info.vocabulary:
            head_vocab = perception.classes(name)
            self.lut, self.unmapped = map_classes(head_vocab, eval_vocab, synonyms)
            covered = {i: n for i, n in eval_vocab.items() if i != 0 and i in set(self.lut.tolist())}
            self.uncovered = [n for i, n in sorted(eval_vocab.items()) if i != 0 and i not in covered]
            if not covered:
                raise ValueError(f"the {name} head's classes {sorted(head_vocab.values())} share no name with the "
                                 f"eval split's {sorted(eval_vocab.values())}; pass synonyms={{head name: split name}}")
            keep = np.zeros(max(eval_vocab) + 1, dtype=np.int64)  # eval id -> itself when a head class maps to it
            keep[list(covered)] = list(covered)
        trained = (perception.configs.get(name, {}).get("task") or {})
        self.gt_task = self.task.scoring_task(covered, keep, perception.heads[name][2], options or {}, trained)
        self.evaluator = self.gt_task.evaluator()

    def to_eval_ids(self, outs: list[dict]) -> list[dict]:
        """Head-vocabulary predictions -> eval-vocabulary ids (unmapped detections dropped)."""
        return outs if self.lut is None else self.task.to_eval_ids(outs, self.lut)


def overlay_row(task: Any, rgb: np.ndarray, gt: dict, out: dict, threshold: float) -> np.ndarray:
    """One overlay row: rgb | ground truth | prediction (small views enlarged so the text reads)."""
    f = ov.zoom_factor(rgb.shape)
    return task.overlay_row(ov.enlarge(rgb, f), f, gt, out, threshold)


def evaluate_head(ev: HeadEval, perception: Perception, data: Path, indices: list[int], batch_size: int,
                  sample: set[int], workers: int | str = "auto", progress: bool = True,
                  posed: bool = False) -> tuple[dict[str, float], float, dict[int, Any]]:
    """Score one head over ``indices``; returns (metrics, images/s, overlay rows of the ``sample`` views).

    ``posed``: the views' depth and pose go to the plugin, which then answers from the space's map."""
    ds = ShardDataset(data, (*ev.task.modalities, "depth") if posed else ev.task.modalities)
    rows: dict[int, Any] = {}

    def on_batch(idx, ids, batch, gts, outs) -> None:
        for j, i in enumerate(idx):
            if i in sample:
                rgb = (batch["rgb"][j].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                rows[i] = overlay_row(ev.task, rgb, gts[j], outs[j], perception.score_threshold)

    def predict(b: dict) -> list[dict]:
        if not posed:
            return ev.to_eval_ids(perception.predict(ev.name, b["rgb"]))
        poses = [(m["intrinsics"], np.asarray(m["cam_to_world"])) for m in b["meta"]]
        return ev.to_eval_ids(perception.predict_posed(ev.name, b["rgb"], [d[0].numpy() for d in b["depth"]], poses))

    metrics, seconds, _ = evaluate_loop(ds, indices, batch_size, ev.evaluator, predict,
                                        ev.gt_task.ground_truth, perception.device, move=False, workers=workers,
                                        progress=progress, desc=f"deploy {ev.name}" + (" + map" if posed else ""),
                                        on_batch=on_batch)
    return metrics, len(indices) / seconds if seconds > 0 else 0.0, rows


def task_options(cfg: DictConfig, name: str) -> dict[str, Any]:
    """deploy's ``<task>_<option>`` fields of one task (``det_min_pixels=4`` -> ``{"min_pixels": 4}``)."""
    return {k[len(name) + 1:]: v for k, v in cfg.items() if isinstance(k, str) and k.startswith(f"{name}_")}


def run(cfg: DictConfig) -> dict:
    head_files = check_config(cfg)
    rd = open_run_dir(cfg)
    data = Path(cfg.data)
    manifest = read_manifest(data)
    eval_vocab = as_vocab(manifest.get("classes") or {}, f"{data}/manifest.json 'classes'")
    perception = Perception.from_run(head_files, device=cfg.device, score_threshold=float(cfg.score_threshold),
                                     space_map=bool(cfg.get("space_map", True)))
    if perception.colour is not None and perception.colour.space_hash not in (None, space_of(data)):
        print(f"deploy: the {data} views are of another space than the colour calibration of the heads' runs "
              f"(scene hash {perception.colour.space_hash}): scored without it", flush=True)
        perception.colour = None
    have = set(manifest.get("modalities") or [])
    for name in perception.tasks:
        task = perception.task(name)
        missing = [m for m in task.modalities if m not in have]
        if missing:
            fix = task.collect_hint
            raise ValueError(f"{data} holds no {missing} (manifest modalities {sorted(have)}), which the {name} head "
                             f"is scored against; {fix}")
    keys = [k for _, k, _ in ShardDataset(data, ("rgb",)).index]
    n = len(keys)
    indices = list(range(min(n, int(cfg.max_samples or n))))
    sample = set(np.unique(np.linspace(0, len(indices) - 1, int(cfg.overlays)).round().astype(int)).tolist()
                 if int(cfg.overlays) > 0 else [])
    synonyms = OmegaConf.to_container(cfg.synonyms) if cfg.get("synonyms") else None
    print(f"deploy: heads {perception.tasks} on {perception.device}; {len(indices)} eval views of {data}", flush=True)

    metrics: dict[str, float] = {}
    info: dict[str, dict] = {}
    rows: dict[int, list[np.ndarray]] = {i: [] for i in sorted(sample)}
    with make_logger(cfg, rd.path, name=rd.path.name) as logger:
        for name in perception.tasks:
            ev = HeadEval(name, perception, eval_vocab, synonyms, task_options(cfg, name))
            res, rate, views = evaluate_head(ev, perception, data, indices, int(cfg.eval_batch_size), sample,
                                             cfg.get("workers", "auto"), bool(cfg.get("progress", True)))
            metrics.update(res)
            metrics[f"deploy/{name}/images_per_s"] = round(rate, 2)
            metrics[f"deploy/{name}/unmapped_classes"] = len(ev.unmapped)
            info[name] = {"source": str(perception.sources.get(name, "")), "unmapped": ev.unmapped,
                          "uncovered": ev.uncovered}
            for i, r in views.items():
                rows[i].append(r)
            if ev.unmapped or ev.uncovered:
                print(f"deploy: {name}: head classes without an eval class: {ev.unmapped}; eval classes the head "
                      f"cannot predict (ignored): {ev.uncovered}", flush=True)
        here = space_of(data) if perception.space_map is not None else None
        own_space = perception.space_map is not None and perception.space_map.space in (None, here)
        if perception.space_map is not None and not own_space:
            print(f"deploy: the {perception.map_head} head's space map is of another space than {data} "
                  f"(scene hash {perception.space_map.space} against {here}): scored without it", flush=True)
        if own_space and "depth" in have:  # agents with depth and pose read the map
            for name in [n for n in perception.tasks if perception.task(n).info.map_aware]:
                ev = HeadEval(name, perception, eval_vocab, synonyms, task_options(cfg, name))
                res, _, _ = evaluate_head(ev, perception, data, indices, int(cfg.eval_batch_size), set(),
                                          cfg.get("workers", "auto"), bool(cfg.get("progress", True)), posed=True)
                metrics.update({f"{name}/map_{k.split('/', 1)[1]}": v for k, v in res.items() if k.count("/") == 1})
        overlay_dir = rd.file("overlays")
        overlay_dir.mkdir(exist_ok=True)
        overlays = []
        for i, r in rows.items():
            path = overlay_dir / f"{keys[i]}.png"
            ov.write_png(path, ov.vstack(r))
            overlays.append(path)
        logger.log_images({"deploy/overlays": overlays})
        agent = None
        if cfg.agent:
            from tst.transfer.agent_demo import run_agent

            demo = OmegaConf.to_container(cfg.demo, resolve=True)
            renderer = cfg.get("renderer")  # null: the renderer the eval split was collected with
            agent = run_agent(perception, data, rd.path, synonyms=synonyms, progress=bool(cfg.get("progress", True)),
                              renderer=None if renderer is None else OmegaConf.to_container(renderer, resolve=True),
                              **demo)
            metrics.update(agent["metrics"])
        metrics["deploy/eval_views"] = len(indices)
        metrics = rd.write_metrics(metrics)
        logger.summary(metrics)
    write_report(rd.file("report.md"), metrics, info, overlays, data, agent)
    print("deploy: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if "/IoU/" not in k), flush=True)
    return {**metrics, "run_dir": str(rd.path)}

