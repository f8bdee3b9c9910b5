"""Issue 2's speed goals, each peer measured in the same run:

- CLI start-up (`--version`, `--help`) vs `python -c "import typer, rich"`, goal <= 1.6x;
- `d1 execute --file` of 100,000 INSERTs vs `sqlite3 DB "BEGIN" ".read FILE" "COMMIT"`,
  goal <= 1.3x, on two workloads: a narrow one-table file (~13 MB, where the fixed cost of
  starting Python weighs most) and the project's own seed schema (users + time_sessions,
  three indexes and a foreign key, which worktime checks and the sqlite3 CLI does not).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
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
        figures.append(_execute_file(root, "narrow table", narrow_schema, write_narrow))
        figures.append(_execute_file(root, "seed schema", SEED_SCHEMA, write_seed))
    return figures


def _execute_file(root: Path, label: str, schema: Path, write: Callable[[Path], None]) -> Figure:
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
    from worktime_cli import config, d1

    cfg = config.load(work / "wrangler.toml")
    db_path = d1.database_path(cfg, cfg.d1("bench-db"), None)
    pristine = work / "pristine.sqlite"
    shutil.copy(db_path, pristine)

    def reset_ours() -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        shutil.copy(pristine, db_path)

    ours = time_command(
        [*WORKTIME, "d1", "execute", "bench-db", "--file", str(sql)],
        repeat=5,
        cwd=work,
        setup=reset_ours,
    )
    sqlite3 = shutil.which("sqlite3")
    peer = None
    if sqlite3:
        peer_db = work / "peer.sqlite"

        def reset_peer() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{peer_db}{suffix}").unlink(missing_ok=True)
            subprocess.run([sqlite3, str(peer_db), f".read {schema}"], check=True)

        peer = time_command(
            [sqlite3, str(peer_db), "BEGIN", f".read {sql}", "COMMIT"], repeat=5, setup=reset_peer
        )
    size_mb = sql.stat().st_size / 1e6
    return Figure(
        f"execute --file {ROWS // 1000}k INSERTs, {size_mb:.0f} MB, {label}",
        ours,
        peer,
        "sqlite3",
        goal="ratio <= 1.3",
        ok=None if peer is None else ours / peer <= 1.3,
    )
