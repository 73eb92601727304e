"""Run every benchmark module of this package (or those named: python -m bench render collect).

Each module ``bench/<name>.py`` has ``main(out_dir: Path) -> dict`` that measures, prints its
ratios and returns what it wrote to ``runs/bench/<name>.json``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

import bench


def main(argv: list[str]) -> int:
    names = argv or sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    out_dir = Path("runs/bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main(out_dir)
        except Exception as e:  # one broken benchmark must not hide the others' numbers
            failed.append(name)
            print(f"bench {name} FAILED: {type(e).__name__}: {e}", flush=True)
        print(f"--- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    if failed:
        print(f"\nfailed benchmarks: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
