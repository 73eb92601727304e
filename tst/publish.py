"""``python -m tst.publish <sweep dir> <docs/results/NAME>``: copy a finished analysis into the docs.

Committed results must say exactly what produced them, so next to the report, plots and tables this
writes ``RUN.md``: the command that regenerates it, the git hash the sweep ran at (from its own
``provenance.json``), the date, and how many jobs finished. Only the small human-facing files are
copied (the run directories with checkpoints stay under ``runs/``).
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tst.atomic import write_text

COPIED = ("report.md", "report.json", "results.md", "results.csv", "jobs.csv")


def publish(sweep_dir: str | Path, dest: str | Path, command: str) -> Path:
    """Copy ``sweep_dir``'s report files and plots into ``dest`` and write ``dest/RUN.md``."""
    src, dest = Path(sweep_dir), Path(dest)
    if not (src / "report.md").is_file():
        raise FileNotFoundError(f"{src} has no report.md: run `tst sweep …` (it renders the report) or "
                                f"`tst report dir={src}` first")
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*COPIED, *(p.name for p in sorted(src.glob("*.png")))):
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    prov = json.loads((src / "provenance.json").read_text()) if (src / "provenance.json").is_file() else {}
    cfg = yaml.safe_load((src / "config.yaml").read_text()) if (src / "config.yaml").is_file() else {}
    jobs = json.loads((src / "sweep.json").read_text())["jobs"] if (src / "sweep.json").is_file() else []
    finished = sum(j["status"] in ("ok", "done") for j in jobs)
    write_text(dest / "RUN.md", "\n".join([
        f"# How {dest.name} was produced", "",
        f"- command: `{command}`",
        f"- git: `{prov.get('git', 'unknown')}` (the commit the sweep ran at)",
        f"- sweep started: {prov.get('time', 'unknown')}; published: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- jobs finished: {finished} of {len(jobs)}",
        f"- grid: `{json.dumps(cfg.get('grid', {}), sort_keys=True)}`", ""]))
    return dest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m tst.publish <sweep dir> <docs/results/NAME> [command that produced it]")
        return 2
    command = " ".join(args[2:]) or f"tst sweep out={args[0]}"
    print(f"published {publish(args[0], args[1], command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
