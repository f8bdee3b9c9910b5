"""Issue 2's speed goals: CLI start-up vs importing typer+rich, and `d1 execute --file` vs
the sqlite3 CLI on a 100,000-INSERT file. Both peers are measured in the same run.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import WORKTIME, Figure, time_command

ROWS = 100_000


def write_inserts(path: Path) -> None:
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, user TEXT NOT NULL, repo TEXT, "
            "seconds INTEGER, note TEXT);\n"
        )
        for i in range(ROWS):
            out.write(
                f"INSERT INTO events (id, user, repo, seconds, note) VALUES ({i}, 'user_{i % 977}', "
                f"'octo/repo-{i % 31}', {rng.randint(1, 36_000)}, 'pull request review {i}');\n"
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

    sqlite3 = shutil.which("sqlite3")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sql = root / "inserts.sql"
        write_inserts(sql)
        (root / "wrangler.toml").write_text('name = "bench"\n')
        subprocess.run(
            [*WORKTIME, "d1", "create", "bench-db"], cwd=root, check=True, capture_output=True
        )
        from worktime_cli import config, d1

        cfg = config.load(root / "wrangler.toml")
        db_path = d1.database_path(cfg, cfg.d1("bench-db"), None)
        pristine = root / "pristine.sqlite"
        shutil.copy(db_path, pristine)

        def reset_ours() -> None:
            for suffix in ("-wal", "-shm"):
                Path(str(db_path) + suffix).unlink(missing_ok=True)
            shutil.copy(pristine, db_path)

        ours = time_command(
            [*WORKTIME, "d1", "execute", "bench-db", "--file", str(sql)],
            repeat=5,
            cwd=root,
            setup=reset_ours,
        )
        peer_db = root / "peer.sqlite"

        def reset_peer() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(peer_db) + suffix).unlink(missing_ok=True)

        peer = None
        if sqlite3:
            peer = time_command(
                [sqlite3, str(peer_db), "BEGIN", f".read {sql}", "COMMIT"],
                repeat=5,
                setup=reset_peer,
            )
        size_mb = sql.stat().st_size / 1e6
        figures.append(
            Figure(
                f"d1 execute --file ({ROWS:,} INSERTs, {size_mb:.0f} MB)",
                ours,
                peer,
                "sqlite3",
                goal="ratio <= 1.3",
                ok=None if peer is None else ours / peer <= 1.3,
            )
        )
    return figures
