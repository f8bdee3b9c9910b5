from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from worktime_cli import d1
from worktime_cli.d1 import connection
from worktime_cli.errors import LockedError, SQLError
from worktime_cli.project import config
from worktime_cli.sqlite.script import Statement

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
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (60000,)
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
    from worktime_cli.sqlite import script as sqlscript

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


# --- busy/locked by SQLite's code, not by words (issue 10 part 4) ---------------------------


def test_a_table_named_unlocked_is_not_a_lock(db_path):
    """Before: 'database is locked by another process', because the message held "locked"."""
    with pytest.raises(SQLError) as err:
        d1.execute_command(db_path, "SELECT * FROM unlocked_items")
    assert not isinstance(err.value, LockedError)
    assert err.value.message == (
        "command:1: no such table: unlocked_items (in: SELECT * FROM unlocked_items)"
    )


def test_a_file_error_about_an_unlocked_table_keeps_its_file_and_line(db_path, tmp_path):
    """Before: '<file>: database is locked by another process', the line lost."""
    sql = tmp_path / "seed.sql"
    sql.write_text(
        "CREATE TABLE t (a);\nINSERT INTO t VALUES (1);\nINSERT INTO unlocked_items VALUES (1);\n"
    )
    with pytest.raises(SQLError) as err:
        d1.execute_file(db_path, sql)
    assert not isinstance(err.value, LockedError)
    assert err.value.message == (
        f"{sql}:3: no such table: unlocked_items (in: INSERT INTO unlocked_items VALUES (1);)"
    )


def test_a_real_lock_is_reported_as_locked(db_path, monkeypatch):
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LockedError) as err:
            d1.execute_command(db_path, "CREATE TABLE t (a)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert err.value.message == "database is locked by another process"
    assert err.value.hint is not None


def test_busy_and_locked_are_classified_by_code():
    from worktime_cli.sqlite.errors import is_busy

    def error(code: int, message: str) -> sqlite3.Error:
        exc = sqlite3.OperationalError(message)
        exc.sqlite_errorcode = code  # as SQLite sets it
        return exc

    assert is_busy(error(5, "database is busy"))
    assert is_busy(error(5 | 2 << 8, "whatever the words"))  # SQLITE_BUSY_SNAPSHOT
    assert is_busy(error(6 | 1 << 8, "x"))  # SQLITE_LOCKED_SHAREDCACHE
    assert not is_busy(error(1, "no such table: locked_busy"))
    assert not is_busy(sqlite3.OperationalError("database is locked"))  # no code: not by words


# --- meta.statements, query and batch -------------------------------------------------------


def test_execute_file_counts_statements_on_both_paths(db_path, tmp_path):
    sql = tmp_path / "x.sql"
    body = (
        "CREATE TABLE t (a);\n-- a comment; not a statement\n"
        "INSERT INTO t VALUES ('semi;colon');;\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n"
        "INSERT INTO t VALUES (2)"
    )
    sql.write_text(body)
    assert d1.execute_file(db_path, sql).statements == 4
    other = db_path.with_name("other.sqlite")
    sql.write_text(body + ";\nSELECT count(*) AS n FROM t;\n")  # rows: the portable path
    result = d1.execute_file(other, sql, create=True)
    assert (result.statements, result.rows) == (5, [{"n": 2}])
    assert result.to_json()["meta"]["statements"] == 5


def test_query_binds_values_and_batch_is_all_or_nothing(db_path):
    d1.execute_command(
        db_path,
        "CREATE TABLE p (id INTEGER PRIMARY KEY); "
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id), v TEXT)",
    )
    hostile = "x'); DROP TABLE p; --"
    d1.batch(
        db_path,
        [
            ("INSERT INTO p (id) VALUES (?)", [1]),
            ("INSERT INTO c VALUES (?, ?, ?)", [1, 1, hostile]),
        ],
    )
    assert d1.query(db_path, "SELECT v FROM c WHERE p = ?", [1]) == [{"v": hostile}]
    with pytest.raises(SQLError) as err:
        d1.batch(
            db_path,
            [
                ("INSERT INTO p (id) VALUES (?)", [2]),
                ("INSERT INTO c VALUES (?, ?, ?)", [2, 99, "x"]),
            ],
        )
    assert err.value.message == (
        "batch statement 2:1: FOREIGN KEY constraint failed (in: INSERT INTO c VALUES (?, ?, ?))"
    )
    assert d1.query(db_path, "SELECT count(*) AS n FROM p") == [{"n": 1}]  # nothing kept


def test_query_keeps_d1s_rules_and_limits(db_path):
    with pytest.raises(SQLError, match="D1 does not allow BEGIN"):
        d1.query(db_path, "BEGIN")
    with pytest.raises(SQLError, match="expected one SQL statement, got 2"):
        d1.query(db_path, "SELECT ?; SELECT ?", [1, 2])
    many = ", ".join("?" for _ in range(101))
    with pytest.raises(SQLError, match="too many SQL variables") as err:
        d1.query(db_path, f"SELECT {many}", list(range(101)))
    assert err.value.hint == "D1 allows at most 100 bound parameters per statement"
