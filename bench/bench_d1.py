"""Issue 2's speed goals, each peer measured in the same run:

- CLI start-up (`--version`, `--help`) vs `python -c "import typer, rich"`, goal <= 1.6x;
- `d1 execute --file` of 100,000 INSERTs vs `sqlite3 DB "BEGIN" ".read FILE" "COMMIT"`,
  goal <= 1.3x, on two workloads: a narrow one-table file (~13 MB, where the fixed cost of
  starting Python weighs most) and the project's own seed schema (users + time_sessions,
  three indexes and a foreign key, which worktime checks and the sqlite3 CLI does not).

Each workload is also timed with the native path off (WORKTIME_NATIVE_SQLITE=0): the portable
path every macOS and Windows user runs (issue 21). That figure is reported, not a goal. The
three commands run interleaved, round by round, so background load weighs on all alike.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import REPO, WORKTIME, Figure, time_command

ROWS = 100_000
USERS = 1_000
SEED_SCHEMA = REPO / "migrations" / "0001_initial_schema.sql"
NARROW_SCHEMA = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, repo TEXT, "
    "seconds INTEGER, note TEXT);\n"
)


def write_narrow(path: Path) -> None:
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(ROWS):
            out.write(
                f"INSERT INTO events (id, user, repo, seconds, note) VALUES ({i}, 'user_{i % 977}', "
                f"'octo/repo-{i % 31}', {rng.randint(1, 36_000)}, 'pull request review {i}');\n"
            )


def write_seed(path: Path) -> None:
    """Users, then time sessions on pull requests, as the worktime backend stores them."""
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(1, USERS + 1):
            out.write(
                "INSERT INTO users (id, github_user_id, github_username, email, avatar_url) "
                f"VALUES ({i}, '{1000 + i}', 'dev{i}', 'dev{i}@example.com', "
                f"'https://avatars.example.com/u/{1000 + i}');\n"
            )
        for i in range(ROWS - USERS):
            start = 1_735_689_600 + i * 37
            seconds = rng.randint(60, 7_200)
            out.write(
                "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time, "
                f"end_time, duration_seconds, status) VALUES ({rng.randint(1, USERS)}, "
                f"'octo-org', 'repo-{i % 37}', {rng.randint(1, 5_000)}, "
                f"datetime({start}, 'unixepoch'), datetime({start + seconds}, 'unixepoch'), "
                f"{seconds}, 'completed');\n"
            )


def run() -> list[Figure]:
    figures = []
    imports = time_command([sys.executable, "-c", "import typer, rich"], repeat=10)
    for args in (["--version"], ["--help"]):
        ours = time_command([*WORKTIME, *args], repeat=10)
        figures.append(
            Figure(
                f"start-up: worktime {args[0]}",
                ours,
                imports,
                "import typer,rich",
                goal="ratio <= 1.6",
                ok=ours / imports <= 1.6,
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        narrow_schema = root / "narrow_schema.sql"
        narrow_schema.write_text(NARROW_SCHEMA)
        figures.extend(_execute_file(root, "narrow table", narrow_schema, write_narrow))
        figures.extend(_execute_file(root, "seed schema", SEED_SCHEMA, write_seed))
    return figures


def _execute_file(
    root: Path, label: str, schema: Path, write: Callable[[Path], None]
) -> list[Figure]:
    """Both tools load the same file into a database that already has `schema`."""
    work = root / label.replace(" ", "_")
    work.mkdir()
    sql = work / "inserts.sql"
    write(sql)
    (work / "wrangler.toml").write_text('name = "bench"\n')
    for args in (
        ["d1", "create", "bench-db"],
        ["d1", "execute", "bench-db", "--file", str(schema)],
    ):
        subprocess.run([*WORKTIME, *args], cwd=work, check=True, capture_output=True)
    from worktime_cli import d1
    from worktime_cli.project import config

    cfg = config.load(work / "wrangler.toml")
    db_path = d1.database_path(cfg, cfg.d1("bench-db"), None)
    pristine = work / "pristine.sqlite"
    shutil.copy(db_path, pristine)

    def reset_ours() -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        shutil.copy(pristine, db_path)

    execute = [*WORKTIME, "d1", "execute", "bench-db", "--file", str(sql)]
    runs: dict[str, tuple[Sequence[str], dict[str, str], Callable[[], None]]] = {
        "native": (execute, {}, reset_ours),
        "fallback": (execute, {"WORKTIME_NATIVE_SQLITE": "0"}, reset_ours),
    }
    sqlite3 = shutil.which("sqlite3")
    if sqlite3:
        peer_db = work / "peer.sqlite"

        def reset_peer() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{peer_db}{suffix}").unlink(missing_ok=True)
            subprocess.run([sqlite3, str(peer_db), f".read {schema}"], check=True)

        runs["sqlite3"] = (
            [sqlite3, str(peer_db), "BEGIN", f".read {sql}", "COMMIT"],
            {},
            reset_peer,
        )
    medians = _interleaved(runs, cwd=work, repeat=5)
    peer = medians.get("sqlite3")
    size_mb = sql.stat().st_size / 1e6
    name = f"execute --file {ROWS // 1000}k INSERTs, {size_mb:.0f} MB, {label}"
    return [
        Figure(
            name,
            medians["native"],
            peer,
            "sqlite3",
            goal="ratio <= 1.3",
            ok=None if peer is None else medians["native"] / peer <= 1.3,
        ),
        Figure(
            f"{name}, native path off",
            medians["fallback"],
            peer,
            "sqlite3",
            goal="reported (macOS path)",
        ),
    ]


def _interleaved(
    runs: dict[str, tuple[Sequence[str], dict[str, str], Callable[[], None]]],
    *,
    cwd: Path,
    repeat: int,
) -> dict[str, float]:
    """Median wall time of each command, run round by round (A B C, A B C, …) after a
    warm-up round, so a burst of background load lands on every variant alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(repeat + 1):
        for name, (argv, env, setup) in runs.items():
            setup()
            started = time.perf_counter()
            subprocess.run(
                argv,
                cwd=cwd,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **env},
            )
            if round_:
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}
