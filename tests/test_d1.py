from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from worktime_cli import config, d1
from worktime_cli.errors import SQLError
from worktime_cli.sqlscript import Statement

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "db.sqlite"
    d1.connect(path, create=True).close()
    return path


def snapshot(path: Path) -> tuple[list[Any], list[Any]]:
    """Schema and every row, to compare a database before and after."""
    conn = sqlite3.connect(path)
    schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    rows = []
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        rows.append((name, sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)))
    conn.close()
    return schema, rows


def test_connections_behave_like_d1(db_path):
    conn = d1.connect(db_path)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) == 100
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH) == 100_000
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN) == 100
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH) == 50


def test_seed_migration_applies_with_foreign_keys(db_path):
    sql = (REPO / "migrations" / "0001_initial_schema.sql").read_text()
    d1.execute_command(db_path, sql)
    tables = {t.name for t in d1.list_tables(db_path)}
    assert tables == {"users", "time_sessions", "daily_stats"}
    with pytest.raises(SQLError, match="FOREIGN KEY constraint failed"):
        d1.execute_command(
            db_path,
            "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time) "
            "VALUES (42, 'o', 'r', 1, '2025-01-01')",
        )


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN",
        "BEGIN TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT s",
        "RELEASE s",
        "ATTACH DATABASE ':memory:' AS other",
    ],
)
def test_statements_d1_refuses_are_refused(db_path, sql):
    with pytest.raises(SQLError) as err:
        d1.execute_command(db_path, sql)
    assert err.value.message.startswith("command:1: D1 does not allow")


@pytest.mark.parametrize(
    "sql", ["CREATE TABLE _cf_mine (a)", "CREATE TABLE _CF_x (a)", "ALTER TABLE t RENAME TO _cf_t"]
)
def test_cf_tables_are_reserved(db_path, sql):
    d1.execute_command(db_path, "CREATE TABLE t (a)")
    with pytest.raises(SQLError, match="reserved by D1"):
        d1.execute_command(db_path, sql)


def test_our_own_transactions_still_work_after_a_refusal(db_path):
    with pytest.raises(SQLError):
        d1.execute_command(db_path, "COMMIT")
    assert d1.execute_command(db_path, "SELECT 1 AS one")[0].rows == [{"one": 1}]


def test_sql_length_limit(db_path):
    long_sql = "SELECT '" + "x" * 100_000 + "'"
    with pytest.raises(SQLError) as err:
        d1.execute_command(db_path, long_sql)
    assert err.value.hint == "D1 allows statements of at most 100,000 bytes"


def test_bound_parameter_limit(db_path):
    conn = d1.connect(db_path)
    ok = Statement("SELECT " + ",".join("?" * 100), 1)
    with pytest.raises(
        SQLError
    ):  # 100 placeholders parse, but are unbound: still not a limit error
        conn.run(ok, "x")
    too_many = Statement("SELECT ?101", 1)
    with pytest.raises(SQLError, match=r"variable number must be between \?1 and \?100"):
        conn.run(too_many, "x")


def test_column_limit(db_path):
    columns = ", ".join(f"c{i}" for i in range(101))
    with pytest.raises(SQLError) as err:
        d1.execute_command(db_path, f"CREATE TABLE wide ({columns})")
    assert err.value.hint == "D1 allows at most 100 columns per table or result"
    d1.execute_command(db_path, f"CREATE TABLE ok ({', '.join(f'c{i}' for i in range(100))})")


def test_like_pattern_limit(db_path):
    d1.execute_command(db_path, "SELECT 'a' LIKE '" + "a" * 50 + "'")
    with pytest.raises(SQLError) as err:
        d1.execute_command(db_path, "SELECT 'a' LIKE '" + "a" * 51 + "'")
    assert err.value.hint == "D1 allows LIKE/GLOB patterns of at most 50 bytes"


def test_command_is_atomic(db_path):
    d1.execute_command(db_path, "CREATE TABLE t (a INTEGER UNIQUE); INSERT INTO t VALUES (1)")
    before = snapshot(db_path)
    with pytest.raises(SQLError) as err:
        d1.execute_command(
            db_path, "INSERT INTO t VALUES (2);\nCREATE TABLE u (b);\nINSERT INTO t VALUES (1)"
        )
    assert err.value.message.startswith("command:3: UNIQUE constraint failed: t.a")
    assert snapshot(db_path) == before


def test_file_is_atomic_and_names_the_failing_line(db_path, tmp_path):
    d1.execute_command(db_path, "CREATE TABLE t (a INTEGER NOT NULL)")
    before = snapshot(db_path)
    sql = tmp_path / "bad.sql"
    lines = [f"INSERT INTO t VALUES ({i});" for i in range(1000)]
    lines += [
        "",
        "-- the bad one is on the next lines",
        "INSERT INTO t",
        "  VALUES (NULL);",
        "SELECT 1;",
    ]
    sql.write_text("\n".join(lines))
    with pytest.raises(SQLError) as err:
        d1.execute_file(db_path, sql)
    assert err.value.message == (
        f"{sql}:1003: NOT NULL constraint failed: t.a (in: INSERT INTO t VALUES (NULL);)"
    )
    assert snapshot(db_path) == before


def test_file_runs_and_reports_totals(db_path, tmp_path):
    sql = tmp_path / "ok.sql"
    sql.write_text(
        "BEGIN TRANSACTION;\nCREATE TABLE t (a);\n"
        + "".join(f"INSERT INTO t VALUES ({i});\n" for i in range(2500))
        + "SELECT count(*) AS n FROM t;\nCOMMIT;\n"
    )
    seen: list[int] = []
    result = d1.execute_file(db_path, sql, seen.append)
    assert result.changes == 2500
    assert result.last_row_id == 2500
    assert result.rows == [{"n": 2500}]
    assert sum(seen) == sql.stat().st_size


def test_file_streams_in_chunks(db_path, tmp_path, monkeypatch):
    """A statement split across chunk boundaries still runs once, whole."""
    from worktime_cli import sqlscript

    monkeypatch.setattr(sqlscript, "CHUNK_SIZE", 7)
    sql = tmp_path / "x.sql"
    sql.write_text("CREATE TABLE t (a);\n" + "INSERT INTO t VALUES ('semi;colon');\n" * 50)
    assert d1.execute_file(db_path, sql).changes == 50
    assert d1.execute_command(db_path, "SELECT count(*) AS n FROM t WHERE a = 'semi;colon'")[
        0
    ].rows == [{"n": 50}]


def test_statement_result_json_shape(db_path):
    (_create, insert, select) = d1.execute_command(
        db_path, "CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 'x'); SELECT a, b FROM t"
    )
    data = insert.to_json()
    assert set(data) == {"results", "success", "meta"}
    assert set(data["meta"]) == {"duration", "changes", "last_row_id"}
    assert (data["results"], data["success"], data["meta"]["changes"]) == ([], True, 1)
    assert data["meta"]["last_row_id"] == 1
    assert select.to_json()["results"] == [{"a": 1, "b": "x"}]


def test_missing_database_file(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        d1.connect(tmp_path / "nope.sqlite")


def test_create_and_delete_edit_wrangler_toml(project):
    created = d1.LocalD1(config.load()).create("worktime-db")
    db = config.load().d1("worktime-db")
    assert (db.binding, db.database_name, db.migrations_dir) == ("DB", "worktime-db", "migrations")
    assert (created.binding, created.database_id) == ("DB", db.database_id)
    assert created.path is not None and created.path.is_file()
    assert created.to_json()["path"] == str(created.path)
    other = d1.LocalD1(config.load()).create("analytics-db")
    assert other.binding == "ANALYTICS_DB"
    with pytest.raises(Exception, match="already exists"):
        d1.LocalD1(config.load()).create("worktime-db")
    deleted = d1.LocalD1(config.load()).delete("DB")
    assert (deleted.database_name, deleted.had_file, deleted.path) == (
        "worktime-db",
        True,
        created.path,
    )
    assert not created.path.exists()
    assert [d.database_name for d in config.load().d1_databases] == ["analytics-db"]


def test_user_sql_cannot_reuse_our_unguarded_control_statements(db_path):
    """Our COMMIT's text, typed by a user, is still refused (no statement-cache bypass)."""
    conn = d1.connect(db_path)
    with conn.transaction():
        conn.run(Statement("CREATE TABLE t (a)", 1), "x")
    with pytest.raises(SQLError, match="D1 does not allow BEGIN, COMMIT"), conn.transaction():
        conn.run(Statement("INSERT INTO t VALUES (1)", 1), "x")
        conn.run(Statement("COMMIT /* worktime */", 2), "x")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
