"""Run every benchmark (`bench/bench_*.py`) and print each figure against its peer.

    python bench/run.py            # all
    python bench/run.py d1 kv      # only bench_d1.py and bench_kv.py

Each module exposes `run() -> list[Figure]`. Exit 1 if a goal is missed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure  # after the path fix above


def main(names: list[str]) -> int:
    here = Path(__file__).resolve().parent
    modules = sorted(p.stem for p in here.glob("bench_*.py"))
    if names:
        modules = [m for m in modules if m.removeprefix("bench_") in names]
    figures: list[Figure] = []
    for name in modules:
        print(f"== {name}", flush=True)
        for figure in importlib.import_module(f"bench.{name}").run():
            print(figure.line(), flush=True)
            figures.append(figure)
    failed = [f for f in figures if f.ok is False]
    print(f"{len(figures) - len(failed)} goals met, {len(failed)} missed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
