"""Helpers for the migration tests: a project with one database and migration files."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from worktime_cli import d1
from worktime_cli.project import config
from worktime_cli.project.config import Config, D1Binding

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "migrations" / "0001_initial_schema.sql"
SEED_DOWN = REPO / "migrations" / "down" / "0001_initial_schema.sql"
DATABASE_ID = "00000000-0000-4000-8000-000000000001"

WRANGLER_TOML = f"""name = "worktime-backend"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "{DATABASE_ID}"
migrations_dir = "migrations"
"""


@dataclass
class Project:
    root: Path

    @property
    def cfg(self) -> Config:
        return config.load(self.root / "wrangler.toml")

    @property
    def db(self) -> D1Binding:
        return self.cfg.d1("worktime-db")

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def path(self) -> Path:
        return d1.database_path(self.cfg, self.db, None)

    def write(self, name: str, up: str, down: str | None = None) -> Path:
        """Write migrations/<name> (and migrations/down/<name> when `down` is given)."""
        self.migrations.mkdir(exist_ok=True)
        path = self.migrations / name
        path.write_text(up, encoding="utf-8")
        if down is not None:
            (self.migrations / "down").mkdir(exist_ok=True)
            (self.migrations / "down" / name).write_text(down, encoding="utf-8")
        return path

    def seed(self) -> None:
        self.write("0001_initial_schema.sql", SEED.read_text(), SEED_DOWN.read_text())

    def query(self, sql: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def applied(self) -> list[str]:
        return [str(r[0]) for r in self.query("SELECT name FROM d1_migrations ORDER BY id")]

    def master(self) -> list[tuple[object, ...]]:
        """The full user schema: what "identical schema" compares."""
        return self.query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'd1_migrations%' ORDER BY type, name"
        )

    def dump(self) -> list[str]:
        """Schema and rows as SQL text, for byte-for-byte comparisons."""
        conn = sqlite3.connect(self.path)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()


def make_project(root: Path) -> Project:
    (root / "wrangler.toml").write_text(WRANGLER_TOML, encoding="utf-8")
    return Project(root)


def table(n: int) -> tuple[str, str]:
    """A small reversible migration: create table t<n> with an index."""
    up = f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX t{n}_v ON t{n}(v);\n"
    down = f"DROP INDEX t{n}_v;\nDROP TABLE t{n};\n"
    return up, down


def seeded(n: int) -> str:
    """An up file worktime cannot invert: it creates t<n> and inserts a row (line 2)."""
    return (
        f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t{n} (v) VALUES ('x');\n"
    )
