"""`worktime d1 migrations apply`, whole process: the seed vs wrangler, and 100/1,000/2,000 files.

python bench/run.py migrations
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
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


def _best(fn: Callable[[], object], repeat: int, setup: Callable[[], None] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best


def _verify_1000(root: Path) -> float:
    """`migrations verify` of 1,000 reversible migrations (table + index, derived down), in-process."""
    from worktime_cli.migrations import LocalMigrations, reports
    from worktime_cli.project import config

    root.mkdir(parents=True)
    (root / "wrangler.toml").write_text(WRANGLER_TOML)
    folder = root / "migrations"
    folder.mkdir()
    for n in range(1, 1001):
        (folder / f"{n:04d}_t{n}.sql").write_text(
            f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX t{n}_v ON t{n}(v);\n"
        )
    cfg = config.load(root / "wrangler.toml")
    target = LocalMigrations(cfg, None, cfg.d1("bench-db"))
    result = reports.verify_all(target)
    assert result.ok, result.problems[:1]
    return _best(lambda: reports.verify_all(target), repeat=3)


def _apply_one(root: Path, repeat: int = 15) -> tuple[float, float, float, float]:
    """Apply one migration on top of the applied seed, in-process: wall time with verify+lint,
    without them, then the same as CPU time; best of `repeat` each. The two runs alternate,
    so a busy machine slows both alike instead of whichever ran during the busy spell; CPU
    time is the extra work itself, which other processes on the machine do not inflate."""
    from worktime_cli import migrations
    from worktime_cli.migrations import LocalMigrations, engine
    from worktime_cli.project import config

    cfg = config.load(root / "wrangler.toml")
    db = cfg.d1("bench-db")
    one = root / "migrations" / "0002_notes.sql"

    def setup() -> None:
        one.unlink(missing_ok=True)
        _fresh(root)
        migrations.apply(cfg, db, None)
        one.write_text(
            "ALTER TABLE users ADD COLUMN notes TEXT;\nCREATE INDEX idx_notes ON users(notes);\n"
        )

    wall = {True: float("inf"), False: float("inf")}
    cpu = dict(wall)
    for _ in range(repeat):
        for checks in (True, False):
            setup()
            began, began_cpu = time.perf_counter(), time.process_time()
            engine.apply(LocalMigrations(cfg, None, db), verify=checks, lint=checks)
            wall[checks] = min(wall[checks], time.perf_counter() - began)
            cpu[checks] = min(cpu[checks], time.process_time() - began_cpu)
    return wall[True], wall[False], cpu[True], cpu[False]


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
        verified = _verify_1000(Path(tmp) / "verify")
        figures.append(
            Figure(
                "verify 1,000 migrations (in-process)",
                verified,
                None,
                "",
                goal="ours <= 2 s",
                ok=verified <= 2,
            )
        )
        one = _project(Path(tmp) / "one", None)
        checked, plain, checked_cpu, plain_cpu = _apply_one(one)
        figures.append(
            Figure(
                "apply 1 migration with verify+lint (in-process)",
                checked,
                plain,
                "without them",
                goal="ratio <= 1.2",
                ok=checked <= 1.2 * plain,
            )
        )
        figures.append(
            Figure(
                "the same, CPU time (in-process)",
                checked_cpu,
                plain_cpu,
                "without them",
            )
        )
    return figures
