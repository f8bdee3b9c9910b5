"""KV: `kv bulk put` of 10,000 keys and `kv key get`, whole process, against wrangler 4.

python bench/run.py kv
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bench.common import WORKTIME, Figure, time_command, wrangler

NS = "0f2ac74b498b48028cb68387c421e279"
KEYS = 10_000
BULK_GOAL = 1.0
GET_GOAL = 0.25


def _project(folder: Path) -> None:
    (folder / "wrangler.toml").write_text(
        f'name = "bench"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "{NS}"\n', encoding="utf-8"
    )
    (folder / "bulk.json").write_text(
        json.dumps([{"key": f"key-{i:05d}", "value": f"value {i} " * 4} for i in range(KEYS)]),
        encoding="utf-8",
    )


def run() -> list[Figure]:
    peer = wrangler()
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-kv-") as tmp:
        ours_dir, theirs_dir = Path(tmp, "ours"), Path(tmp, "theirs")
        for folder in (ours_dir, theirs_dir):
            folder.mkdir()
            _project(folder)

        trash = Path(tmp, "trash")
        trash.mkdir()

        def fresh(folder: Path) -> None:
            # Move the last run's 10,000 files aside instead of deleting them here: on a
            # filesystem mounted with `discard`, deleting that many files just before the
            # timed run makes its file creations wait on the discards (seen: 0.5 s -> 4 s).
            state = folder / ".wrangler"
            if state.exists():
                state.rename(trash / f"{folder.name}-{len(list(trash.iterdir()))}")
            os.sync()  # earlier writes are not the timed run's to flush

        bulk = ["kv", "bulk", "put", "bulk.json", "--binding", "KV"]
        ours = time_command(
            [*WORKTIME, *bulk], cwd=ours_dir, repeat=3, setup=lambda: fresh(ours_dir)
        )
        theirs = (
            time_command(
                [peer, *bulk, "--local"], cwd=theirs_dir, repeat=1, setup=lambda: fresh(theirs_dir)
            )
            if peer
            else None
        )
        figures.append(
            Figure(
                f"kv bulk put {KEYS:,} keys",
                ours,
                theirs,
                "wrangler",
                goal=f"ours <= {BULK_GOAL} s",
                ok=ours <= BULK_GOAL,
            )
        )

        # Both stores now hold the 10,000 keys; read one from the middle.
        get = ["kv", "key", "get", f"key-{KEYS // 2:05d}", "--binding", "KV"]
        ours = time_command([*WORKTIME, *get], cwd=ours_dir, repeat=7)
        theirs = time_command([peer, *get, "--local"], cwd=theirs_dir, repeat=3) if peer else None
        figures.append(
            Figure(
                "kv key get (1 of 10,000)",
                ours,
                theirs,
                "wrangler",
                goal=f"ours <= {GET_GOAL} s",
                ok=ours <= GET_GOAL,
            )
        )
    return figures
