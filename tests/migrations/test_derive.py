"""Derived down SQL (issue 12, part 1): the inverse of create/add/rename-only migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import SEED, Project, make_project
from worktime_cli import migrations
from worktime_cli.errors import WorktimeError
from worktime_cli.migrations import engine
from worktime_cli.migrations.derive import invert
from worktime_cli.migrations.local import tracking_ddl
from worktime_cli.sqlite.script import split


@pytest.fixture
def proj(project: Path) -> Project:
    return make_project(project)


@pytest.mark.parametrize(
    ("sql", "inverse"),
    [
        ("CREATE TABLE t (x)", "DROP TABLE t;"),
        ('CREATE TABLE IF NOT EXISTS "my t" (x)', 'DROP TABLE IF EXISTS "my t";'),
        ("create unique index main.i on t(x)", "DROP INDEX main.i;"),
        ("CREATE VIEW v AS SELECT 1", "DROP VIEW v;"),
        (
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
            "DROP TRIGGER tr;",
        ),
        ("CREATE VIRTUAL TABLE f USING fts5(body)", "DROP TABLE f;"),
        (
            "-- note\nALTER TABLE t ADD COLUMN y TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE t DROP COLUMN y;",
        ),
        ("ALTER TABLE t ADD y INTEGER", "ALTER TABLE t DROP COLUMN y;"),
        ("ALTER TABLE t RENAME TO u", "ALTER TABLE u RENAME TO t;"),
        ("ALTER TABLE [t] RENAME COLUMN a TO `b`", "ALTER TABLE [t] RENAME COLUMN `b` TO a;"),
        ("ALTER TABLE t RENAME a TO b", "ALTER TABLE t RENAME COLUMN b TO a;"),
    ],
)
def test_each_invertible_statement(sql: str, inverse: str) -> None:
    assert invert(sql).sql == inverse


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA foreign_keys = ON",
        "PRAGMA defer_foreign_keys = true",
        "PRAGMA foreign_key_check",
        "SELECT 1",
        "CREATE TEMP TABLE scratch (x)",
    ],
)
def test_statements_without_lasting_effect_need_no_inverse(sql: str) -> None:
    found = invert(sql)
    assert (found.sql, found.reason) == (None, None)


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE t",
        "DELETE FROM t",
        "UPDATE t SET x = 1",
        "INSERT INTO t VALUES (1)",
        "ALTER TABLE t DROP COLUMN x",
        "PRAGMA user_version = 3",
        "WITH a AS (SELECT 1) DELETE FROM t",
    ],
)
def test_other_statements_block_the_derivation(sql: str) -> None:
    assert invert(sql).reason


def test_the_seeds_migration_is_derivable_and_its_inverse_restores_the_empty_schema(
    proj: Project,
) -> None:
    proj.write("0001_initial_schema.sql", SEED.read_text())  # no down file, as wrangler's projects
    [state] = migrations.status(proj.cfg, proj.db, None).migrations
    assert (state.has_down, state.down) == (True, "derived")
    migrations.apply(proj.cfg, proj.db, None)
    captured = proj.query("SELECT down_sql FROM d1_migrations_worktime")[0][0]
    assert isinstance(captured, str) and captured.startswith("-- Derived by worktime")
    # Reverse order: the last index first, each table after its indexes.
    drops = [s.sql for s in split(captured)]
    assert drops[0] == "DROP INDEX idx_daily_stats_repo;"
    assert drops[-1] == "DROP TABLE users;"
    done = migrations.rollback(proj.cfg, proj.db, None)
    assert [(m.name, m.source) for m in done.migrations] == [("0001_initial_schema.sql", "derived")]
    assert proj.master() == []


def test_derived_down_is_captured_so_it_survives_the_file(proj: Project) -> None:
    proj.write("0001_t.sql", "CREATE TABLE t (x);\n")
    migrations.apply(proj.cfg, proj.db, None)
    (proj.migrations / "0001_t.sql").unlink()
    [state] = migrations.status(proj.cfg, proj.db, None).migrations
    assert (state.state, state.down) == ("missing", "derived")
    migrations.rollback(proj.cfg, proj.db, None)
    assert proj.master() == []


def _wrangler_apply(proj: Project) -> None:
    """What `wrangler d1 migrations apply --local` leaves: the SQL run, a tracking row, no facts."""
    proj.path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(proj.path)
    try:
        conn.execute(tracking_ddl("d1_migrations"))
        for file in migrations.discover(proj.migrations):
            conn.executescript(file.path.read_text())
            conn.execute("INSERT INTO d1_migrations (name) VALUES (?)", (file.name,))
            conn.commit()
    finally:
        conn.close()


def test_a_wrangler_only_project_rolls_back_its_create_only_migrations(proj: Project) -> None:
    proj.write("0001_initial_schema.sql", SEED.read_text())
    proj.write("0002_notes.sql", "ALTER TABLE users ADD COLUMN notes TEXT;\n")
    _wrangler_apply(proj)
    states = migrations.status(proj.cfg, proj.db, None).migrations
    assert [(s.state, s.down) for s in states] == [("unverified", "derived")] * 2
    done = migrations.rollback(proj.cfg, proj.db, None, all=True)
    assert done.rolled_back == ["0002_notes.sql", "0001_initial_schema.sql"]
    assert proj.master() == []
    assert proj.applied() == []


def test_a_wrangler_applied_migration_is_refused_when_the_live_schema_differs(
    proj: Project,
) -> None:
    """The rule: without a checksum the file may have changed since wrangler ran it, so the
    inverse is derived from it only when the live schema is exactly what the applied files build."""
    proj.write("0001_t.sql", "CREATE TABLE t (x);\n")
    _wrangler_apply(proj)
    proj.write("0001_t.sql", "CREATE TABLE t (x);\nCREATE TABLE extra (y);\n")  # edited since
    with pytest.raises(
        WorktimeError, match=r"cannot roll back 0001_t.sql: applied without worktime"
    ) as caught:
        migrations.rollback(proj.cfg, proj.db, None)
    assert "- table extra: CREATE TABLE extra (y)" in caught.value.message
    assert proj.applied() == ["0001_t.sql"]


def test_the_rest_are_refused_with_the_statement_named(proj: Project) -> None:
    proj.write("0001_t.sql", "CREATE TABLE t (x);\n")
    proj.write("0002_fill.sql", "-- backfill\nUPDATE t SET x = 1;\n")
    _wrangler_apply(proj)
    with pytest.raises(WorktimeError) as caught:
        migrations.rollback(proj.cfg, proj.db, None, all=True)
    assert f"{proj.migrations / '0002_fill.sql'}:2: UPDATE t SET x = 1;" in caught.value.message
    assert proj.applied() == ["0001_t.sql", "0002_fill.sql"]


def test_a_drifted_file_is_not_derived_from(proj: Project) -> None:
    proj.write("0001_t.sql", "CREATE TABLE t (x);\n")
    migrations.apply(proj.cfg, proj.db, None)
    conn = sqlite3.connect(proj.path)  # an older worktime's row: a checksum, no down SQL
    conn.execute("UPDATE d1_migrations_worktime SET down_sql = NULL")
    conn.commit()
    conn.close()
    proj.write("0001_t.sql", "CREATE TABLE t (x);\nCREATE TABLE u (y);\n")
    target = migrations.LocalMigrations(proj.cfg, None, proj.db)
    with pytest.raises(WorktimeError, match="its file changed since it was applied"):
        engine.rollback(target)
