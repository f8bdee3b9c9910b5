"""Helpers for admin tests: a seeded local D1 file, rows in plain Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REPO
from worktime_cli.admin.targets import SQLiteDatabase

SCHEMA = (REPO / "migrations" / "0001_initial_schema.sql").read_text(encoding="utf-8")


def schema_db(path: Path) -> SQLiteDatabase:
    """A D1 file with the seed schema, opened through worktime's own connection."""
    from worktime_cli import d1

    conn = d1.connect(path, create=True)
    conn.executescript(SCHEMA)
    conn.close()
    return SQLiteDatabase(path)


def add_user(db: SQLiteDatabase, login: str, github_user_id: str | None = None) -> int:
    rows = db.batch(
        [
            (
                "INSERT INTO users (github_user_id, github_username) VALUES (?, ?) RETURNING id",
                (github_user_id or f"gh-{login}", login),
            )
        ]
    )
    return int(rows[0][0]["id"])


def add_session(db: SQLiteDatabase, user_id: int, **values: Any) -> int:
    row: dict[str, Any] = {
        "repo_owner": "acme",
        "repo_name": "api",
        "pr_number": 1,
        "status": "completed",
        **values,
    }
    row["user_id"] = user_id
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    rows = db.batch(
        [
            (
                f"INSERT INTO time_sessions ({columns}) VALUES ({marks}) RETURNING id",
                list(row.values()),
            )
        ]
    )
    return int(rows[0][0]["id"])


def stats_rows(db: SQLiteDatabase) -> dict[tuple[int, str, str, str], tuple[int, int, int]]:
    return {
        (r["user_id"], r["repo_owner"], r["repo_name"], r["date"]): (
            r["total_duration_seconds"],
            r["session_count"],
            r["avg_session_seconds"],
        )
        for r in db.query("SELECT * FROM daily_stats")
    }


WRANGLER_TOML = """\
name = "worktime-backend"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "6f1c0e0e-1111-4222-8333-444455556666"
migrations_dir = "migrations"

[[kv_namespaces]]
binding = "KV"
id = "0f2b6a3c4d5e6f708192a3b4c5d6e7f8"
"""


def admin_project(root: Path) -> SQLiteDatabase:
    """wrangler.toml with DB and KV in `root`, and the local D1 file with the seed schema."""
    from worktime_cli import d1
    from worktime_cli.project import config

    (root / "wrangler.toml").write_text(WRANGLER_TOML, encoding="utf-8")
    cfg = config.load(root / "wrangler.toml")
    return schema_db(d1.database_path(cfg, cfg.d1("DB"), None))


def local_kv(root: Path) -> Any:
    from worktime_cli.kv import LocalKV
    from worktime_cli.project import config

    cfg = config.load(root / "wrangler.toml")
    return LocalKV(cfg).namespace("KV")
