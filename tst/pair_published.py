"""Paired gains over the published parts of one grid: ``jobs.csv`` files of sweeps that each ran some of its cells.

    python -m tst.pair_published docs/results/gain_det_cpu/jobs.csv docs/results/gain_det_scratch/jobs.csv \\
        --metrics det/AP50,det/AP

Why: on 2 CPU cores a gain grid (spaces x seeds x inits) runs in parts, often in different sessions and
machines, and each part is published on its own (``tst.publish``), so no single report sees every init.
The job rows of the parts pair by (scene, seed) exactly as ``tst report`` pairs one sweep's rows; this
prints the same mean and 95% interval (``tst.paired``) for ``a`` against every other init present.
A cell published twice (the same scene, init, objective, task and seed in two files) is refused: which
one counts would be a guess.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from tst.paired import paired_gain

KEY = ("scene", "init", "objective", "task", "seed")


def read_rows(paths: list[str | Path]) -> list[dict]:
    """The job rows of every ``jobs.csv``: metrics as floats (empty cells dropped), one row per grid cell."""
    rows, seen = [], {}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file; give the jobs.csv of a published sweep "
                                    f"(docs/results/<name>/jobs.csv) or of a sweep directory")
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [k for k in (*KEY, "status") if k not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path} lacks the columns {missing}: it is not a jobs.csv written by tst report")
            for row in reader:
                key = tuple(row[k] for k in KEY)
                if key in seen:
                    raise ValueError(f"the cell {dict(zip(KEY, key))} is in both {seen[key]} and {path}; "
                                     f"pass one of them")
                seen[key] = path
                rows.append({k: (float(v) if "/" in k else v) for k, v in row.items() if v != "" or "/" not in k})
    return rows


def table(rows: list[dict], metrics: list[str], a: str = "tst") -> str:
    """A markdown table: one line per other init, ``a - init`` per metric with its interval and pair count."""
    others = sorted({r["init"] for r in rows} - {a})
    if a not in {r["init"] for r in rows}:
        raise ValueError(f"no {a!r} rows in the files; the inits present are {others}")
    lines = ["| " + " | ".join([f"{a} −", *metrics]) + " |", "|" + "---|" * (len(metrics) + 1)]
    for b in others:
        cells = []
        for m in metrics:
            g = paired_gain(rows, a, b, m)
            cells.append(g.text() + (f" (n={g.n})" if g.n > 1 else ""))
        lines.append("| " + " | ".join([b, *cells]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tst.pair_published", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="jobs.csv files of the grid's published parts")
    p.add_argument("--metrics", default="semseg/mIoU", help="comma-separated metric columns (det/AP50,det/AP)")
    p.add_argument("--a", default="tst", help="the init whose gain over every other init is printed")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    print(table(read_rows(args.files), args.metrics.split(","), args.a), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
