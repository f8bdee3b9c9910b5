"""The fast `execute --file` path (whole chunks through sqlite3_exec) against the portable one."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import IN_CI
from worktime_cli import d1
from worktime_cli.d1 import fastpath
from worktime_cli.errors import SQLError
from worktime_cli.sqlite import native as sqlite_native
from worktime_cli.sqlite import script as sqlscript
from worktime_cli.sqlite.script import open_sql_file

SCRIPT = """\
-- header comment; with a semicolon
CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, end_time TEXT);
INSERT INTO t (body) VALUES ('line one;
line two -- not a comment;
line three');
/* block; comment */ INSERT INTO t (body, end_time) VALUES ('x', 'weekend');
INSERT INTO t (body) VALUES ('a'); INSERT INTO t (body) VALUES ('b');
CREATE TRIGGER tr AFTER INSERT ON t BEGIN
  UPDATE t SET end_time = 'set;by trigger' WHERE id = new.id AND end_time IS NULL;
END;
INSERT INTO t (body) VALUES ('after trigger')
"""


@pytest.fixture(autouse=True)
def native_available() -> None:
    if sqlite_native._library() is None:
        if IN_CI and sys.platform == "linux":
            pytest.fail("the native path must be available on CI's Linux")
        pytest.skip("no shared libsqlite3 to reach through ctypes here")


def new_db(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.sqlite"
    d1.connect(path, create=True).close()
    return path


def contents(path: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    rows = conn.execute("SELECT * FROM t ORDER BY id").fetchall()
    conn.close()
    return schema, rows


def portable(path: Path, sql: Path) -> None:
    conn = d1.connect(path)
    with conn.transaction():
        conn.run_stream(
            sqlscript.without_transaction_wrapper(
                sqlscript.iter_statements(open_sql_file(sql).chunks())
            ),
            str(sql),
        )
    conn.close()


def test_plain_file_runs_natively_and_matches_the_portable_path(tmp_path):
    sql = tmp_path / "x.sql"
    sql.write_text(SCRIPT)
    fast, slow = new_db(tmp_path, "fast"), new_db(tmp_path, "slow")
    assert fastpath.execute_natively(fast, open_sql_file(sql), None) is not None
    portable(slow, sql)
    assert contents(fast) == contents(slow)
    assert contents(fast)[1][1] == (2, "x", "weekend")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(min_value=1, max_value=200))
def test_any_chunk_size_gives_the_same_database(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(sqlscript, "CHUNK_SIZE", chunk)
    sql = tmp_path / "x.sql"
    sql.write_text(SCRIPT)
    fast, slow = new_db(tmp_path, f"fast{chunk}"), new_db(tmp_path, f"slow{chunk}")
    assert fastpath.execute_natively(fast, open_sql_file(sql), None) is not None
    portable(slow, sql)
    assert contents(fast) == contents(slow)


def test_a_wrapped_dump_runs_natively(tmp_path):
    sql = tmp_path / "dump.sql"
    sql.write_text(
        "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t (id INTEGER);\n"
        "INSERT INTO t VALUES (1);\nCOMMIT;\n"
    )
    db = new_db(tmp_path, "db")
    # (changes, last_row_id, statements): PRAGMA, CREATE, INSERT; the wrapper is not counted.
    assert fastpath.execute_natively(db, open_sql_file(sql), None) == (1, 1, 3)


def test_a_real_sqlite3_dump_round_trips(tmp_path):
    """`sqlite3 DB .dump` output (PRAGMA, BEGIN TRANSACTION … COMMIT) loads as is."""
    import subprocess

    from tests.conftest import require_tool

    sqlite3_cli = require_tool(
        "sqlite3", "the peer whose .dump must load (apt-get install sqlite3)"
    )
    source = tmp_path / "source.db"
    subprocess.run(
        [
            sqlite3_cli,
            str(source),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);"
            "INSERT INTO t (body) VALUES ('a'), ('it''s');",
        ],
        check=True,
    )
    dump = tmp_path / "dump.sql"
    dump.write_text(
        subprocess.run(
            [sqlite3_cli, str(source), ".dump"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert dump.read_text().startswith("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
    fast, slow = new_db(tmp_path, "fast"), new_db(tmp_path, "slow")
    assert fastpath.execute_natively(fast, open_sql_file(dump), None) is not None
    portable(slow, dump)
    assert contents(fast) == contents(slow)
    assert contents(fast)[1] == [(1, "a"), (2, "it's")]


@pytest.mark.parametrize(
    ("middle", "message"),
    [
        ("COMMIT;", "D1 does not allow BEGIN, COMMIT"),
        ("commit transaction;", "D1 does not allow BEGIN, COMMIT"),
        ("/* sneaky */ END;", "D1 does not allow BEGIN, COMMIT"),
        ("SAVEPOINT s;", "D1 does not allow BEGIN, COMMIT"),
        ("ATTACH DATABASE ':memory:' AS other;", "D1 does not allow ATTACH"),
        ("CREATE TABLE _cf_x (a);", "table names starting with '_cf_' are reserved by D1"),
    ],
)
def test_refused_statements_in_a_file_keep_nothing_and_are_located(tmp_path, middle, message):
    sql = tmp_path / "bad.sql"
    sql.write_text(
        f"CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);\n{middle}\nINSERT INTO t VALUES (2);\n"
    )
    db = new_db(tmp_path, "db")
    with pytest.raises(SQLError) as err:
        d1.execute_file(db, sql)
    assert err.value.message.startswith(f"{sql}:3: {message}")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []


def test_rows_send_the_file_to_the_portable_path(tmp_path):
    sql = tmp_path / "q.sql"
    sql.write_text("CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (7);\nSELECT id FROM t;\n")
    db = new_db(tmp_path, "db")
    assert fastpath.execute_natively(db, open_sql_file(sql), None) is None  # rolled back
    assert d1.execute_file(db, sql).rows == [{"id": 7}]


def test_native_connection_has_d1_limits_and_foreign_keys(tmp_path):
    db = new_db(tmp_path, "db")
    sql = tmp_path / "fk.sql"
    sql.write_text(
        "CREATE TABLE p (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE c (p INTEGER REFERENCES p(id));\nINSERT INTO c VALUES (1);\n"
    )
    assert fastpath.execute_natively(db, open_sql_file(sql), None) is None
    with pytest.raises(SQLError, match="FOREIGN KEY constraint failed"):
        d1.execute_file(db, sql)
    long = tmp_path / "long.sql"
    long.write_text("SELECT '" + "x" * 100_001 + "';\n")
    with pytest.raises(SQLError) as err:
        d1.execute_file(db, long)
    assert err.value.hint == "D1 allows statements of at most 100,000 bytes"


def test_a_wrapper_commit_must_be_its_own_statement(tmp_path):
    """`DROP TABLE backEND;` at the end of a BEGIN-wrapped file is not a COMMIT (review #1)."""
    db = new_db(tmp_path, "db")
    d1.execute_command(
        db, "CREATE TABLE back (a); INSERT INTO back VALUES (1); CREATE TABLE backend (a)"
    )
    sql = tmp_path / "x.sql"
    sql.write_text("BEGIN TRANSACTION;\nINSERT INTO backend VALUES (2);\nDROP TABLE backEND;\n")
    with pytest.raises(SQLError, match="does not end with COMMIT"):
        d1.execute_file(db, sql)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT * FROM back").fetchall() == [(1,)]
    assert conn.execute("SELECT * FROM backend").fetchall() == []


def test_a_nul_byte_is_refused_not_truncated(tmp_path):
    db = new_db(tmp_path, "db")
    sql = tmp_path / "nul.sql"
    sql.write_bytes(
        b"CREATE TABLE n (a);\nINSERT INTO n VALUES (1);\x00INSERT INTO n VALUES (2);\n"
    )
    with pytest.raises(SQLError) as err:
        d1.execute_file(db, sql)
    assert err.value.message == f"{sql}: NUL byte near byte 45"
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize(
    ("sql", "guarded"),
    [
        ("COMMIT;", True),
        ("select 1; commit", True),
        ("SELECT 1;/* c */ Commit;", True),
        ("SELECT 1;\n-- c\n--d\n  rollback to x;", True),
        ("  \n-- hi\nBEGIN TRANSACTION;", True),
        ("SELECT 1;\tSAVEPOINT s", True),
        ("SELECT 1;DETACH x", True),
        ("attach database 'x' as y", True),
        ("INSERT INTO t VALUES ('a; end');", True),  # a false alarm: only slower
        ("INSERT INTO x_cf_y VALUES (1)", True),
        ("INSERT INTO t (end_time) VALUES ('weekend')", False),
        ("SELECT CASE WHEN 1 THEN 2 END;", False),
        ("INSERT INTO t VALUES ('a;b end');", False),
        ("select 1; endless", False),
    ],
)
def test_which_chunks_run_guarded(sql, guarded):
    """Every way to start a transaction statement is caught; plain data is not (speed)."""
    assert fastpath._needs_guard(sql) is guarded
