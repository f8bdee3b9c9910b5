"""`worktime d1 migrations apply`, whole process: the seed vs wrangler, and 100/1,000/2,000 files.

python bench/run.py migrations
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.common import REPO, WORKTIME, Figure, time_command, wrangler

WRANGLER_TOML = """name = "bench"

[[d1_databases]]
binding = "DB"
database_name = "bench-db"
database_id = "00000000-0000-4000-8000-000000000001"
"""


def _project(root: Path, count: int | None) -> Path:
    """A project with the seed migration (count None) or `count` small migrations."""
    root.mkdir(parents=True)
    (root / "wrangler.toml").write_text(WRANGLER_TOML)
    folder = root / "migrations"
    folder.mkdir()
    if count is None:
        shutil.copy(REPO / "migrations" / "0001_initial_schema.sql", folder)
    else:
        for n in range(1, count + 1):
            (folder / f"{n:04d}_t{n}.sql").write_text(
                f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t{n} (v) VALUES ('x');\n"
            )
    return root


def _fresh(root: Path) -> None:
    shutil.rmtree(root / ".wrangler", ignore_errors=True)


def _apply(root: Path, repeat: int) -> float:
    return time_command(
        [*WORKTIME, "d1", "migrations", "apply", "bench-db"],
        cwd=root,
        setup=lambda: _fresh(root),
        repeat=repeat,
    )


def run() -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        seed = _project(Path(tmp) / "seed", None)
        ours = _apply(seed, repeat=7)
        launcher = wrangler()
        peer = None
        if launcher is not None:
            peer = time_command(
                [launcher, "d1", "migrations", "apply", "bench-db", "--local"],
                cwd=seed,
                setup=lambda: _fresh(seed),
                repeat=3,
                env={"CI": "true"},
            )
        figures.append(
            Figure(
                "apply seed, new DB (whole process)",
                ours,
                peer,
                "wrangler",
                goal="ours <= 0.3 s",
                ok=ours <= 0.3,
            )
        )
        times = {}
        for count in (100, 1000, 2000):
            times[count] = _apply(_project(Path(tmp) / f"n{count}", count), repeat=3)
        figures.append(
            Figure(
                "apply 1,000 migrations",
                times[1000],
                times[100] * 10,
                "10 x 100",
                goal="ours <= 3 s, ratio <= 1.5",
                ok=times[1000] <= 3 and times[1000] <= 1.5 * times[100] * 10,
            )
        )
        figures.append(
            Figure(
                "apply 2,000 migrations (linear?)",
                times[2000],
                times[1000] * 2,
                "2 x 1,000",
                goal="ratio <= 1.3",
                ok=times[2000] <= 1.3 * times[1000] * 2,
            )
        )
    return figures
