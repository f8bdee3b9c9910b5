"""D1's size, row and query-time limits (worktime_cli.d1limits), on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from worktime_cli import d1limits
from worktime_cli.schemadiff import connection_query
from worktime_cli.sqlscript import split


def test_size_against_the_paid_cap_by_default_and_the_free_one_when_told() -> None:
    assert d1limits.size_check(1_000_000).level == d1limits.OK
    assert d1limits.size_check(1_000_000).cap == 10_000_000_000
    free = d1limits.size_check(450_000_000, cap=d1limits.FREE_DATABASE_CAP)
    assert free.level == d1limits.WARNING
    over = d1limits.size_check(600_000_000, cap=d1limits.FREE_DATABASE_CAP)
    assert over.level == d1limits.ERROR
    assert "refuses writes" in over.message()
    assert over.to_json() == {
        "size": 600_000_000,
        "cap": 500_000_000,
        "fraction": 1.2,
        "level": "error",
    }


def test_largest_row_finds_the_row_over_two_megabytes(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite")
    conn.executescript(
        "CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT);"
        "CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB, t TEXT);"
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;"
        "INSERT INTO small (v) VALUES ('a'), ('bb');"
        "INSERT INTO kv VALUES ('key', 'value');"
    )
    conn.execute("INSERT INTO big (id, b, t) VALUES (7, zeroblob(2000000), 'x')")
    conn.execute("INSERT INTO big (id, b, t) VALUES (8, zeroblob(10), 'y')")
    rows = d1limits.largest_rows(connection_query(conn))
    assert [(r.table, r.rowid, r.size, r.level) for r in rows] == [
        ("big", 7, 2_000_002, "error"),
        ("kv", None, 8, "ok"),
        ("small", 2, 3, "ok"),
    ]
    conn.close()


def test_rewrite_of_a_big_table_warns_with_batching_advice() -> None:
    statements = split(
        "CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT);\n"
        'INSERT INTO users_new SELECT id, email FROM "users";\n'
        "UPDATE time_sessions SET status = 'x';\n"
        "UPDATE time_sessions SET status = 'y' WHERE id < 100;\n"
        "CREATE INDEX i ON time_sessions(status);\n"
        "DELETE FROM small;\n"
    )
    counts = {"users": 3_000_000, "TIME_SESSIONS": 2_000_000, "small": 10}
    found = d1limits.rewrite_warnings("m.sql", statements, counts)
    assert [(w.line, w.table, w.what) for w in found] == [
        (2, "users", "copy"),
        (3, "time_sessions", "update"),
        (5, "time_sessions", "index"),
    ]
    assert "30-second" in found[0].message()
    assert "batches" in found[0].to_json()["advice"]
    assert d1limits.rewrite_warnings("m.sql", statements, {"users": 1000}) == []
