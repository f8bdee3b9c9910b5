from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worktime_cli.errors import SQLError
from worktime_cli.sqlite.script import (
    Statement,
    iter_statements,
    open_sql_file,
    split,
    without_transaction_wrapper,
)

SCRIPT = """\
-- a comment; with a semicolon
CREATE TABLE t (a TEXT);

INSERT INTO t VALUES ('x;y'), ('it''s; fine');
CREATE TRIGGER tr AFTER INSERT ON t BEGIN
  UPDATE t SET a = a || ';' WHERE rowid = new.rowid;
END;
/* block ; comment */ SELECT 1; SELECT 2;
SELECT "odd;name" FROM t
"""


def test_split_respects_strings_comments_and_triggers():
    statements = split(SCRIPT)
    assert [s.line for s in statements] == [2, 4, 5, 8, 8, 9]  # where each keyword is
    assert statements[0].sql == "CREATE TABLE t (a TEXT);"
    assert statements[1].sql == "INSERT INTO t VALUES ('x;y'), ('it''s; fine');"
    assert statements[2].sql.startswith("CREATE TRIGGER tr") and statements[2].sql.endswith("END;")
    assert statements[3].sql == "SELECT 1;"
    assert statements[4].sql == "SELECT 2;"
    assert statements[5].sql == 'SELECT "odd;name" FROM t\n'


def test_comment_only_and_empty_statements_are_skipped():
    assert split("-- nothing\n;\n  ;  /* x */ ; \n-- tail") == []


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_chunking_never_changes_the_statements(cuts):
    """Streaming splits must agree with splitting the whole text, wherever chunks end."""
    chunks, rest = [], SCRIPT
    for cut in cuts:
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    assert list(iter_statements(chunks)) == split(SCRIPT)


def statements(*sql):
    return [Statement(s, i + 1) for i, s in enumerate(sql)]


def test_transaction_wrapper_is_stripped():
    wrapped = statements("BEGIN TRANSACTION;", "CREATE TABLE a(x);", "COMMIT;")
    assert [s.sql for s in without_transaction_wrapper(wrapped)] == ["CREATE TABLE a(x);"]


def test_statements_without_wrapper_pass_through():
    plain = statements("CREATE TABLE a(x);", "COMMIT;")
    assert list(without_transaction_wrapper(plain)) == plain


def test_begin_without_commit_is_an_error():
    with pytest.raises(SQLError, match="does not end with COMMIT"):
        list(without_transaction_wrapper(statements("BEGIN;", "SELECT 1;")))


def test_database_files_are_refused(tmp_path):
    db = tmp_path / "x.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(SQLError, match="database file, not SQL"):
        open_sql_file(db)


def test_missing_file(tmp_path):
    with pytest.raises(SQLError, match="not found"):
        open_sql_file(tmp_path / "nope.sql")


def test_bom_and_crlf(tmp_path):
    path = tmp_path / "x.sql"
    path.write_bytes(b"\xef\xbb\xbfSELECT 1;\r\nSELECT\r\n 2;\r\n")
    sql_file = open_sql_file(path)
    got = list(iter_statements(sql_file.chunks()))
    assert [(s.sql.replace("\r", ""), s.line) for s in got] == [
        ("SELECT 1;", 1),
        ("SELECT\n 2;", 2),
    ]
    assert sql_file.consumed == path.stat().st_size


def test_count_statements_agrees_with_the_splitter():
    """The quick count (fast `execute --file` path) equals what `split` yields, on tricky text."""
    import random

    from worktime_cli.sqlite.script import count_statements

    parts = [
        "SELECT 1",
        ";",
        " ",
        "\n",
        "'a;b'",
        "'it''s'",
        "''",
        '"q;"',
        "`x;`",
        "[a;b]",
        "-- c;'\n",
        "/* ;' */",
        "x",
        "- 1",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END",
        "'unterminated",
    ]
    rng = random.Random(10)
    for _ in range(3000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 12)))
        assert count_statements(text) == len(split(text)), text
