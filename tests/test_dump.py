from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from worktime_cli import d1
from worktime_cli.d1 import dump
from worktime_cli.errors import NotFoundError

REPO = Path(__file__).resolve().parent.parent

DATA = """
INSERT INTO users (github_user_id, github_username, email) VALUES
  ('1', 'octo', 'o@example.com'), ('2', 'it''s [me]', NULL), ('3', 'ünï €', 'x');
INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time, duration_seconds, status)
  VALUES (3, 'o', 'r', 7, '2025-01-01T00:00:00Z', 60, 'completed'),
         (1, 'o', 'r', 8, '2025-01-02T00:00:00Z', NULL, 'active');
INSERT INTO daily_stats (user_id, repo_owner, repo_name, date, total_duration_seconds)
  VALUES (3, 'o', 'r', '2025-01-01', 60);
DELETE FROM users WHERE id = 2;
CREATE TABLE odd ("we""ird col" BLOB, f REAL, big INTEGER, t TEXT);
INSERT INTO odd VALUES (X'00FF10', 0.1, 9223372036854775807, 'line1
line2;'), (NULL, -1.5e-300, -1, ''), (X'', 1e308, 0, 'tab	tab');
CREATE VIEW active_sessions AS SELECT * FROM time_sessions WHERE status = 'active';
CREATE TRIGGER touch AFTER INSERT ON time_sessions BEGIN
  UPDATE users SET last_active = 'touched' WHERE id = new.user_id;
END;
"""


def fill(path: Path) -> None:
    d1.connect(path, create=True).close()
    d1.execute_command(path, (REPO / "migrations" / "0001_initial_schema.sql").read_text())
    d1.execute_command(path, DATA)


def contents(path: Path) -> tuple[list[Any], dict[str, Any]]:
    conn = sqlite3.connect(path)
    schema = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    ).fetchall()
    rows = {
        # Sorted: sqlite_sequence's own row order carries no meaning.
        name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    conn.close()
    return schema, rows


def test_round_trip_is_exact(tmp_path):
    source, target, out = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "dump.sql"
    fill(source)
    result = d1.export(source, out)
    assert result.tables == ("users", "time_sessions", "daily_stats", "odd")
    assert result.rows == 2 + 2 + 1 + 3
    d1.connect(target, create=True).close()
    d1.execute_file(target, out)  # foreign keys are on in every connection
    assert contents(target) == contents(source)
    # The trigger was created after the rows, so re-importing did not fire it.
    conn = sqlite3.connect(target)
    assert "touched" not in {row[0] for row in conn.execute("SELECT last_active FROM users")}


def test_children_come_after_parents_even_if_created_first(tmp_path):
    source, target, out = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "dump.sql"
    d1.connect(source, create=True).close()
    d1.execute_command(
        source,
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "INSERT INTO parent VALUES (1); INSERT INTO child VALUES (10, 1);",
    )
    assert d1.export(source, out).tables == ("parent", "child")
    d1.connect(target, create=True).close()
    d1.execute_file(target, out)
    assert contents(target) == contents(source)


def test_schema_only_data_only_and_table_filter(tmp_path):
    source, out = tmp_path / "a.sqlite", tmp_path / "dump.sql"
    fill(source)
    d1.export(source, out, data=False)
    text = out.read_text()
    assert "CREATE TABLE users" in text and "INSERT INTO" not in text
    assert "CREATE INDEX idx_users_github_id" in text
    d1.export(source, out, schema=False, tables=["users"])
    text = out.read_text()
    assert "CREATE" not in text
    assert text.count('INSERT INTO "users"') == 2
    assert "time_sessions" not in text


def test_unknown_table_and_nothing_to_export(tmp_path):
    source, out = tmp_path / "a.sqlite", tmp_path / "dump.sql"
    fill(source)
    with pytest.raises(NotFoundError, match="no table named nope"):
        d1.export(source, out, tables=["nope"])
    assert not out.exists()
    with pytest.raises(Exception, match="nothing to export"):
        d1.export(source, out, data=False, schema=False)


@pytest.mark.parametrize(
    "value",
    [None, 0, -(2**63), 2**63 - 1, 0.1, 1e-310, -0.0, 1e308, "", "a'b", "é\n;", b"", b"\x00\xff"],
)
def test_sql_literal_reads_back_exactly(value):
    conn = sqlite3.connect(":memory:")
    (got,) = conn.execute(f"SELECT {dump.sql_literal(value)}").fetchone()
    assert got == value
    assert type(got) is type(value)


def test_text_with_nul_reads_back():
    conn = sqlite3.connect(":memory:")
    literal = dump.sql_literal("a\x00b")
    (got,) = conn.execute(f"SELECT {literal}").fetchone()
    assert got == "a\x00b"


def test_export_is_one_consistent_snapshot(tmp_path, monkeypatch):
    """Writes that land while the dump runs are not half in it (review #6)."""
    source, out = tmp_path / "a.sqlite", tmp_path / "dump.sql"
    d1.connect(source, create=True).close()
    d1.execute_command(
        source,
        "CREATE TABLE a (x); CREATE TABLE b (x); INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)",
    )
    original = dump._insert_lines
    written: list[bool] = []

    def insert_lines_then_write(conn, table):
        yield from original(conn, table)
        if table == "a" and not written:  # between the two tables, another writer commits
            d1.execute_command(source, "INSERT INTO a VALUES (2); INSERT INTO b VALUES (2)")
            written.append(True)

    monkeypatch.setattr(dump, "_insert_lines", insert_lines_then_write)
    d1.export(source, out)
    text = out.read_text()
    assert written
    assert 'INSERT INTO "b" ("x") VALUES(2)' not in text
    assert text.count("INSERT INTO") == 2
