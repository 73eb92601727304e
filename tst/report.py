"""``tst report dir=<sweep dir>``: the paper's analyses as tables and figures from finished runs.

    tst report dir=runs/sweep/analysis_gain            # analysis read from the sweep's config.yaml
    tst report dir=runs/sweep/x analysis=matrix metric=det/AP

Analyses (one experiment config each, configs/experiment/analysis_*.yaml):
- ``gain``: TST vs scratch vs other-spaces pretraining per task (table + bars, gains over both).
- ``matrix``: specialization-generalization, TST for space i (init ``space<i>``: pretrained on it and,
  with ``grid.self_train``, self-trained on its views; ``tst`` on space j is the diagonal) evaluated on
  space j, as a heatmap.
- ``external``: other-spaces pretraining on k external spaces (init ``other<k>``) against the single
  test space, with the crossing point: how many external spaces the test space is worth.
- ``ablation``: SSL objective / modality subsets (rows: objective).
- ``table``: every cell (scene, init, objective) of any sweep.
Writes ``report.md`` (with the wall time per stage when ``sweep.json`` has it), ``report.json`` (the
plotted numbers) and the PNGs into ``dir``; reads only ``sweep.json`` and the runs' ``metrics.json``
(``tst.aggregate``), so it works on any finished sweep or demo directory.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import yaml

from tst.aggregate import METRIC_COLUMNS, markdown, summarize, sweep_rows, write_tables
from tst.atomic import write_json, write_text
from tst.paired import PairedGain, gap_closed, paired_gain
from tst.pipeline import space_dir, space_order
from tst.plots import bar_plot, crossing_plot, heatmap
from tst.tasks import higher_is_better

ANALYSES = ("gain", "matrix", "external", "ablation", "table")


def _series(summary, metrics) -> tuple[dict, dict]:
    vals = {str(k[0]): {m: c[m].mean for m in metrics} for k, c in summary}
    errs = {str(k[0]): {m: c[m].std for m in metrics} for k, c in summary}
    return vals, errs


def _used(rows: list[dict]) -> list[str]:
    return [m for m in METRIC_COLUMNS if any(r["task"] == m.split("/")[0] for r in rows)]


def _chance(root: Path, rows: list[dict], metrics: list[str]) -> dict[str, float]:
    """Chance level per metric, averaged over the test spaces whose eval split is under ``root/data``."""
    from tst.chance import chance_levels

    tasks = tuple(dict.fromkeys(m.split("/")[0] for m in metrics))
    per_scene = [chance_levels(root / "data" / space_dir(s) / "eval", tasks)
                 for s in sorted({r["scene"] for r in rows if r.get("scene") is not None}, key=str)
                 if (root / "data" / space_dir(s) / "eval" / "manifest.json").is_file()]
    keys = {k for c in per_scene for k in c}
    return {k: sum(c[k] for c in per_scene if k in c) / sum(k in c for c in per_scene) for k in keys}


HEADLINE = "semseg/mIoU"  # the metric the one-line verdict speaks about


def _verdict(gains: dict[str, dict[str, PairedGain]], metrics: list[str], who: str = "tst") -> str:
    """One sentence: did specialization pay on this run (the paired intervals, not the means, decide)?
    ``who``: the row the gains are of (``tst``, or ``tst + space map``). It speaks of the headline metric, or,
    where no baseline ran that task (a grid whose baselines train only other tasks), of the first one paired."""
    order = ([HEADLINE] if HEADLINE in metrics else []) + [x for x in metrics if x != HEADLINE]
    paired = [x for x in order if any(x in g and g[x].n for g in gains.values())]
    if not paired:
        return f"Specialization could not be judged: no (scene, seed) pair has both {who} and a baseline."
    m = paired[0]
    parts = [(ref, g[m]) for ref, g in gains.items() if m in g and g[m].n]
    if any(g.n < 2 for _, g in parts):
        return (f"Specialization on {m}: " + "; ".join(f"{who} − {ref} {g.mean:+.2f}" for ref, g in parts)
                + " from a single (scene, seed) pair — no interval; run more seeds (tst sweep "
                  "experiment=analysis_gain) before reading it as a gain.")
    sign = 1.0 if higher_is_better(m) else -1.0  # depth AbsRel / RMSE: a negative difference is a gain
    won = [ref for ref, g in parts if g.significant and sign * g.mean > 0]
    lost = [ref for ref, g in parts if g.significant and sign * g.mean < 0]
    detail = "; ".join(f"{who} − {ref} {g.text()}" for ref, g in parts)
    if len(won) == len(parts):
        return f"Specialization paid on {m}: {who} beats {' and '.join(won)} with 95% intervals above zero ({detail})."
    if lost:
        return f"Specialization did not pay on {m}: {who} is worse than {' and '.join(lost)} ({detail})."
    return f"Specialization did not clearly pay on {m}: an interval includes zero ({detail})."


def _self_trained(root: Path) -> dict[str, bool]:
    """Task -> whether its tst heads self-trained on the test space, read from the runs' own ``self_train/steps``
    (not the sweep config, which a later run may have changed): False where every tst run of the task has 0 steps,
    which only maps the space with the external head; tasks whose runs disagree or never self-trained are left out."""
    steps: dict[str, set[int]] = {}
    for f in sorted((root / "transfer").glob("*/tst/*/*/seed*/metrics.json")):
        n = json.loads(f.read_text()).get("self_train/steps")
        if n is not None:
            steps.setdefault(f.parent.parent.name, set()).add(int(n))
    return {t: min(s) > 0 for t, s in sorted(steps.items()) if min(s) > 0 or max(s) == 0}


def _colour_calibrated(root: Path) -> tuple[int, int, float]:
    """(tst semseg runs that calibrated the space's colours, those that measured them, the largest move in levels),
    read from the runs' own ``self_train/colour_*`` metrics (``tst.transfer.space_colour``)."""
    found = [json.loads(f.read_text()) for f in sorted((root / "transfer").glob("*/tst/*/semseg/seed*/metrics.json"))]
    found = [m for m in found if "self_train/colour_calibrated" in m]
    moved = [m for m in found if m["self_train/colour_calibrated"]]
    return len(moved), len(found), max((float(m.get("self_train/colour_mean_shift", 0.0)) for m in moved), default=0.0)


def _map_picture(root: Path) -> str:
    """The first tst semseg run's ``space_map.png`` copied next to the report, as a markdown image ('' if none)."""
    found = sorted((root / "transfer").glob(f"*/tst/*/semseg/seed*/{IMAGE_FILE}"))
    if not found:
        return ""
    shutil.copyfile(found[0], root / IMAGE_FILE)
    where = found[0].parent.relative_to(root)
    return f"\nThe map of the test space ({where}), from above:\n\n![space map]({IMAGE_FILE})\n"


IMAGE_FILE = "space_map.png"  # the map's picture in a transfer run (tst.transfer.space_map_image writes it)
MAPPED = "tst + space map"  # the tst head's eval views relabelled by the test space's map (transfer self_train)


def _space_map(rows: list[dict], metrics: list[str]) -> tuple[str, dict]:
    """tst with its space map (``<task>/map_<name>`` keys, for agents with depth and pose) against the baselines'
    heads, paired as the heads are; empty when no tst run wrote a map."""
    mapped = []
    for r in rows:
        found = {k.replace("/map_", "/", 1): v for k, v in r.items() if r["init"] == "tst" and "/map_" in k}
        if found:
            mapped.append({**r, "init": MAPPED, **found})
    keys = [m for m in metrics if any(m in r for r in mapped)]
    if not keys:
        return "", {}
    cells = dict(summarize(mapped, ("init",), keys))[(MAPPED,)]
    refs = [ref for ref in ("scratch", "other") if any(r["init"] == ref for r in rows)]
    gains = {ref: {m: paired_gain(rows + mapped, MAPPED, ref, m) for m in keys} for ref in refs}
    text = ("\nFor agents with depth and pose — **tst + space map**: the eval views labelled by the test space's "
            "semantic map where its voxels have votes, by the tst head elsewhere. The map is the tst head's "
            "predictions (after its self-training, where it ran) over the space's unlabelled views, fused per voxel (`space_map.npz` next to "
            "`head.pt`; the perception plugin reads it when an observation carries depth, intrinsics and "
            "cam_to_world); det boxes are weighed against those labels and captions decoded under the classes "
            "they show. Paired against the baselines' heads (RGB only):\n\n| | " + " | ".join(keys) + " |\n|" +
            "---|" * (len(keys) + 1) + "\n" + f"| {MAPPED} | " + " | ".join(cells[m].text() for m in keys) + " |\n" +
            "".join(f"| − {ref} | " + " | ".join(g[m].text() for m in keys) + " |\n" for ref, g in gains.items()))
    if gains:
        text += f"\n**{_verdict(gains, keys, who=MAPPED)}**\n"
    return text, {"means": {m: cells[m].mean for m in keys}, "stds": {m: cells[m].std for m in keys},
                  "paired": {ref: {m: {"mean": g[m].mean, "lo": g[m].lo, "hi": g[m].hi, "n": g[m].n} for m in keys}
                             for ref, g in gains.items()}}


def _gain(rows: list[dict], root: Path) -> tuple[str, dict]:
    metrics = _used(rows)
    summary = summarize(rows, ("init",), metrics)
    vals, errs = _series(summary, metrics)
    chance = _chance(root, rows, metrics)
    png = bar_plot(vals, root / "gain.png", errors=errs, title="specialization gain: init per task (dashed: chance)",
                   reference=chance)
    text = markdown(summary, ("init",), metrics)
    trained = _self_trained(root)
    adapted = [t for t, on in trained.items() if on and any(m.startswith(f"{t}/") for m in metrics)]
    mapped_only = [t for t, on in trained.items() if not on and any(m.startswith(f"{t}/") for m in metrics)]
    if mapped_only:
        text += (f"\nThe tst {', '.join(mapped_only)} head is not self-trained (`self_train.steps=0`): it maps the "
                 f"test space as it is (below).\n")
    if adapted:
        text += (f"\ntst = the encoder pretrained on the test space, and its {', '.join(adapted)} head then "
                 f"self-trained on its own predictions over the space's unlabelled pretraining views, fused per "
                 f"voxel in 3-D (no test-space label is read); scratch and other never see the test space.\n")
    moved, measured, most = _colour_calibrated(root)
    if moved:
        text += (f"\nIn {moved} of {measured} tst semseg runs the test space's colours lay outside the range the "
                 f"labelled spaces span (another camera, a scan's lighting): tst sees that space's views through its "
                 f"colour calibration (largest move {most:.0f} of 255 levels; `space_colour.json`), while scratch and "
                 f"other see them as they are. Part of tst's gain may be that calibration alone.\n")
    inits = {r["init"] for r in rows}
    gains = {ref: {m: paired_gain(rows, "tst", ref, m) for m in metrics}
             for ref in ("scratch", "other") if "tst" in inits and ref in inits}
    closed = {m: gap_closed(vals["tst"][m], vals["scratch"][m], vals["oracle"][m], higher_is_better(m))
              for m in metrics} if {"tst", "scratch", "oracle"} <= set(vals) else {}
    text += "\nIn context (chance: a predictor that ignores the image, on the same eval views; oracle: the " \
            "tst encoder with its head trained on labelled views of the test space itself — the ceiling; " \
            "gap closed = (tst − scratch) / (oracle − scratch)):\n\n| | " + " | ".join(metrics) + " |\n|" + \
            "---|" * (len(metrics) + 1) + "\n"
    text += "| chance | " + " | ".join(f"{chance[m]:.2f}" if m in chance else "—" for m in metrics) + " |\n"
    if closed:
        text += "| gap closed | " + " | ".join("—" if math.isnan(closed[m]) else f"{closed[m]:.2f}"
                                              for m in metrics) + " |\n"
    verdict = _verdict(gains, metrics) if gains else None
    if gains:
        text += "\nPaired gain of TST (same space, same seed; mean [95% interval, the wider of a bootstrap and " \
                "Student's t] over (space, seed) pairs, * = excludes zero):\n\n| over | " + " | ".join(metrics) + " |\n|" + \
                "---|" * (len(metrics) + 1) + "\n" + "".join(
                    f"| {ref} | " + " | ".join(g[m].text() for m in metrics) + " |\n" for ref, g in gains.items())
        lower = [m for m in metrics if not higher_is_better(m)]
        if lower:
            text += f"\nLower is better for {', '.join(lower)}: there a negative tst − baseline is a gain.\n"
        text += f"\n**{verdict}**\n"
    map_text, map_data = _space_map(rows, metrics)
    text += map_text + (_map_picture(root) if map_text else "")
    data = {"means": vals, "stds": errs, "chance": chance, "gap_closed": closed,
            "gain": {ref: {m: g[m].mean for m in metrics} for ref, g in gains.items()},
            "paired": {ref: {m: {"mean": g[m].mean, "lo": g[m].lo, "hi": g[m].hi, "n": g[m].n} for m in metrics}
                       for ref, g in gains.items()},
            "verdict": verdict, "plot": png.name, "self_trained": adapted, "space_map": map_data,
            "colour_calibrated": moved}
    return text + f"\n![gain]({png.name})\n", data


def _source(init: str, scene) -> int | str | None:
    if init == "tst":
        return scene
    m = re.fullmatch(r"space(\d+)", init)
    return int(m[1]) if m else None


def _matrix(rows: list[dict], root: Path, metric: str) -> tuple[str, dict]:
    keep = [{**r, "source": _source(r["init"], r["scene"])} for r in rows]
    keep = [r for r in keep if r["source"] is not None]
    summary = dict(summarize(keep, ("source", "scene"), (metric,)))
    srcs = sorted({k[0] for k in summary}, key=space_order)
    evals = sorted({k[1] for k in summary}, key=space_order)
    mat = [[summary[(i, j)][metric].mean if (i, j) in summary else math.nan for j in evals] for i in srcs]
    png = heatmap(mat, [f"space {i}" for i in srcs], [f"space {j}" for j in evals], root / "matrix.png",
                  title=f"{metric}: specialized to i, evaluated on j", xlabel="evaluated on", ylabel="specialized to")
    lines = ["| specialized to \\ evaluated on | " + " | ".join(f"space {j}" for j in evals) + " |",
             "|" + "---|" * (len(evals) + 1)]
    for i in srcs:
        lines.append(f"| space {i} | " + " | ".join(
            summary[(i, j)][metric].text() if (i, j) in summary else "—" for j in evals) + " |")
    diag = [mat[a][evals.index(i)] for a, i in enumerate(srcs) if i in evals]
    off = [v for a, r in enumerate(mat) for b, v in enumerate(r) if srcs[a] != evals[b] and not math.isnan(v)]
    extra = {}
    if diag and off:
        extra = {"diagonal_mean": sum(diag) / len(diag), "off_diagonal_mean": sum(off) / len(off)}
        lines.append(f"\nOn its own space {extra['diagonal_mean']:.2f}, on other spaces {extra['off_diagonal_mean']:.2f}.")
        # per evaluated space (a column, so its difficulty cancels): specialized to it minus specialized elsewhere
        own = {}
        for b, j in enumerate(evals):
            others = [mat[a][b] for a, i in enumerate(srcs) if i != j and not math.isnan(mat[a][b])]
            if j in srcs and others and not math.isnan(mat[srcs.index(j)][b]):
                own[j] = mat[srcs.index(j)][b] - sum(others) / len(others)
        if own:
            extra["own_minus_other"] = own
            lines.append("Specialized to the evaluated space minus specialized to another, on it: " + ", ".join(
                f"space {j} {v:+.2f}" for j, v in own.items()) + f" (mean {sum(own.values()) / len(own):+.2f}).")
    text = "\n".join(lines) + f"\n\n![matrix]({png.name})\n"
    return text, {"metric": metric, "sources": srcs, "evaluated": evals, "matrix": mat, **extra, "plot": png.name}


def _external(rows: list[dict], root: Path, metric: str) -> tuple[str, dict]:
    summary = dict(summarize(rows, ("init",), (metric,)))
    ks = sorted(int(k[0][5:]) for k in summary if re.fullmatch(r"other\d+", str(k[0])))
    if not ks or ("tst",) not in summary:
        raise ValueError(f"analysis=external needs runs with init=tst and init=other<k>; found inits "
                         f"{sorted(k[0] for k in summary)}")
    ys = [summary[(f"other{k}",)][metric].mean for k in ks]
    errs = [summary[(f"other{k}",)][metric].std for k in ks]
    ref = summary[("tst",)][metric].mean
    png, cross = crossing_plot(ks, ys, ref, root / "external.png", errors=errs, xlabel="external spaces",
                               ylabel=metric, title=f"{metric}: other spaces vs the test space")
    text = markdown(list(summarize(rows, ("init",), (metric,))), ("init",), (metric,))
    if cross is None:
        worth = f"more than {ks[-1]} external spaces (the curve stays below it)"
    elif ys[0] >= ref:  # the first point already matches it: the crossing lies at or before k = ks[0]
        worth = f"at most {ks[0]} external space{'s' if ks[0] > 1 else ''} (pretraining on {ks[0]} already matches it)"
    else:
        worth = f"{cross:.2f} external spaces"
    text += f"\nThe test space is worth {worth}.\n\n![external]({png.name})\n"
    return text, {"metric": metric, "k": ks, "other": ys, "other_std": errs, "tst": ref, "crossing": cross,
                  "plot": png.name}


def _ablation(rows: list[dict], root: Path) -> tuple[str, dict]:
    rows = [r for r in rows if r.get("init") == "tst"]
    metrics = _used(rows)
    summary = summarize(rows, ("objective",), metrics)
    vals, errs = _series(summary, metrics)
    png = bar_plot(vals, root / "ablation.png", errors=errs, title="SSL objective / modality ablation")
    return markdown(summary, ("objective",), metrics) + f"\n![ablation]({png.name})\n", \
        {"means": vals, "stds": errs, "plot": png.name}


def _wall_time(root: Path, max_rows: int = 40) -> str:
    """Seconds per stage (and per job for small grids) of the latest run, from sweep.json."""
    index = root / "sweep.json"
    if not index.is_file():
        return ""
    jobs = json.loads(index.read_text())["jobs"]
    per: dict[str, float] = {}
    for j in jobs:
        per[j["stage"]] = per.get(j["stage"], 0.0) + float(j.get("seconds") or 0.0)
    text = (f"\n## Wall time\n\n{sum(per.values()):.0f} s in stages ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in per.items()) + "), each job's seconds as it took when it ran "
            "(`done`: finished by an earlier run, skipped this time).\n")
    if len(jobs) <= max_rows:
        text += "\n| job | status | seconds |\n|---|---|---|\n" + "".join(
            f"| {j['name']} | {j['status']} | {float(j.get('seconds') or 0.0):.1f} |\n" for j in jobs)
    return text


def render(root: str | Path, analysis: str = "auto", metric: str | None = None) -> dict:
    """Write report.md / report.json / PNGs for ``analysis`` into ``root``; returns report.json's content."""
    root = Path(root)
    if analysis == "auto":
        cfg_file = root / "config.yaml"
        analysis = (yaml.safe_load(cfg_file.read_text()) or {}).get("analysis") if cfg_file.is_file() else None
        analysis = analysis or "table"
    if analysis not in ANALYSES:
        raise ValueError(f"analysis={analysis!r} is unknown; choose one of {list(ANALYSES)}")
    rows = sweep_rows(root)
    if not rows:
        raise FileNotFoundError(f"{root} holds no transfer runs (no sweep.json and no transfer/synth*/…/seed*/); "
                                f"give dir=<a finished sweep or demo directory>")
    metric = metric or "semseg/mIoU"
    write_tables(rows, root, by=("scene", "init", "objective"))
    if analysis == "gain":
        text, data = _gain(rows, root)
    elif analysis == "matrix":
        text, data = _matrix(rows, root, metric)
    elif analysis == "external":
        text, data = _external(rows, root, metric)
    elif analysis == "ablation":
        text, data = _ablation(rows, root)
    else:
        text, data = markdown(summarize(rows, ("scene", "init", "objective")), ("scene", "init", "objective")), {}
    failed = sum(r["status"] != "ok" for r in rows)
    head = f"# {analysis}: {root.name}\n\nmean ± std over seeds (n=1: a single seed); {len(rows)} transfer jobs, {failed} not finished " \
           f"(marked FAILED / counted in the cells; details in results.md).\n\n"
    write_text(root / "report.md", head + text + _wall_time(root))
    data = {"analysis": analysis, **data}
    write_json(root / "report.json", data)
    return data


def run(cfg) -> dict:
    data = render(cfg.dir, str(cfg.analysis), cfg.get("metric"))
    if (cfg.get("logger") or {}).get("kind", "none") != "none":  # logger=wandb: the plots as images
        from tst.runlog import make_logger

        with make_logger(cfg, cfg.dir, name="report") as logger:
            logger.log_images({f"report/{p.stem}": p for p in sorted(Path(cfg.dir).glob("*.png"))})
    print((Path(cfg.dir) / "report.md").read_text(), flush=True)
    return {**data, "report": str(Path(cfg.dir) / "report.md")}

