"""D1's size, row and query-time limits (worktime_cli.d1.limits), on real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.d1 import limits as d1limits
from worktime_cli.d1.schemadiff import QueryFn, connection_query
from worktime_cli.remote import d1 as remote_d1
from worktime_cli.remote.client import Client
from worktime_cli.sqlite.script import split


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


ROWS_SQL = (
    "CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT);",
    "CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB, t TEXT);",
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;",
    "INSERT INTO small (v) VALUES ('a'), ('bb');",
    "INSERT INTO kv VALUES ('key', 'value');",
    "INSERT INTO big (id, b, t) VALUES (7, zeroblob(2000000), 'x');",
    "INSERT INTO big (id, b, t) VALUES (8, zeroblob(10), 'y');",
)


@pytest.fixture(params=["local", "remote"])
def rows_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueryFn]:
    """The same database, read locally or through the fake D1's /query: one query function."""
    if request.param == "local":
        conn = sqlite3.connect(tmp_path / "x.sqlite")
        for sql in ROWS_SQL:
            conn.execute(sql)
        yield connection_query(conn)
        conn.close()
        return
    fake: FakeCloudflare = request.getfixturevalue("fake")
    uuid = fake.add_database("limits").uuid
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as client:
        for sql in ROWS_SQL:
            remote_d1.query(client, uuid, sql)
        yield lambda sql: remote_d1.query(client, uuid, sql)[0].results


fake = pytest.fixture(name="fake")(fake_fixture)


def test_largest_row_finds_the_row_over_two_megabytes(rows_db: QueryFn) -> None:
    rows = d1limits.largest_rows(rows_db)
    assert [(r.table, r.rowid, r.size, r.level) for r in rows] == [
        ("big", 7, 2_000_002, "error"),
        ("kv", None, 8, "ok"),
        ("small", 2, 3, "ok"),
    ]


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
