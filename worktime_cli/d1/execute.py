"""Run SQL on a local D1 file, all or nothing: `--command`, `--file` (the fast path first, then
statement by statement), and queries and batches with bound values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.d1 import fastpath
from worktime_cli.d1.connection import D1Connection, connect
from worktime_cli.errors import SQLError
from worktime_cli.sqlite.script import (
    Statement,
    check_utf8,
    iter_statements,
    open_sql_file,
    split,
    without_transaction_wrapper,
)
from worktime_cli.targets.d1 import BoundStatement, FileResult, StatementResult


def run_statements(
    conn: D1Connection, statements: Iterable[Statement], source: str
) -> Iterator[StatementResult]:
    """Run statements one by one (the caller owns the transaction)."""
    for statement in statements:
        yield conn.run(statement, source)


def execute_command(db_path: Path, sql: str, *, create: bool = False) -> list[StatementResult]:
    """Run `--command` SQL: every statement in one transaction, one result per statement.

    With `create`, a missing database file is created first, as `wrangler d1 execute` does.
    """
    statements = split(sql, "command")
    if not statements:
        raise SQLError("no SQL statement to run")
    conn = connect(db_path, create=create)
    try:
        with conn.transaction(read_only=all(map(is_read_only, statements))):
            return list(run_statements(conn, statements, "command"))
    finally:
        conn.close()


_READ_START = re.compile(r"(?:SELECT|VALUES|EXPLAIN)(?![\w$])", re.I)
_WITH_START = re.compile(r"WITH(?![\w$])", re.I)
_WRITE_WORD = re.compile(r"(?<![\w$])(?:INSERT|UPDATE|DELETE|REPLACE)(?![\w$])", re.I)


def is_read_only(statement: Statement) -> bool:
    """True when `statement` surely only reads (it then runs without the write lock).

    Conservative: SELECT, VALUES and EXPLAIN, or a WITH that names no writing keyword. A
    PRAGMA may write, so it counts as a write; a false "write" only costs a lock.
    """
    sql = statement.sql
    if _READ_START.match(sql):
        return True
    return _WITH_START.match(sql) is not None and _WRITE_WORD.search(sql) is None


def execute_file(
    db_path: Path,
    sql_path: Path,
    on_progress: Callable[[int], None] | None = None,
    *,
    create: bool = False,
) -> FileResult:
    """Run a SQL file all-or-nothing, streaming it in flat memory.

    The fast path hands whole chunks to SQLite's C loop (`sqlite_native`). When it cannot
    be used, or a chunk fails or returns rows, the transaction is rolled back and the file
    runs statement by statement instead: that path collects typed rows and turns a failure
    into `file:line: message (in: statement)`.
    """
    started = time.perf_counter()
    sql_file = open_sql_file(sql_path)
    if create and not fsutil.is_file(db_path):
        connect(db_path, create=True).close()
    native = fastpath.execute_natively(db_path, sql_file, on_progress)
    if native is not None:
        changes, last_row_id, statements = native
        return _file_result(started, changes, last_row_id, statements)
    if sql_file.consumed:
        sql_file = open_sql_file(sql_path)  # a second pass: the progress bar is already full
        on_progress = None
    conn = connect(db_path)
    counted = _Counted(
        without_transaction_wrapper(iter_statements(sql_file.chunks(on_progress), str(sql_path)))
    )
    try:
        before = conn.total_changes
        with conn.transaction():
            rows = conn.run_stream(counted, str(sql_path))
        changes, last_row_id = conn.total_changes - before, conn.last_row_id
    finally:
        conn.close()
    return _file_result(started, changes, last_row_id, counted.count, rows)


def _file_result(
    started: float,
    changes: int,
    last_row_id: int,
    statements: int,
    rows: list[dict[str, Any]] | None = None,
) -> FileResult:
    meta = {
        "duration": round((time.perf_counter() - started) * 1000, 3),
        "changes": changes,
        "last_row_id": last_row_id,
        "statements": statements,
    }
    return FileResult(meta=meta, rows=rows or [])


class _Counted:
    """Statements passed through, counted (the README promises `meta.statements`)."""

    def __init__(self, statements: Iterable[Statement]) -> None:
        self._statements = statements
        self.count = 0

    def __iter__(self) -> Iterator[Statement]:
        for statement in self._statements:
            self.count += 1
            yield statement


def query(
    db_path: Path, sql: str, params: Sequence[Any] = (), *, create: bool = False
) -> list[dict[str, Any]]:
    """Rows of one statement with bound values, in its own transaction."""
    return batch(db_path, [(sql, params)], create=create)[0]


def batch(
    db_path: Path, statements: Sequence[BoundStatement], *, create: bool = False
) -> list[list[dict[str, Any]]]:
    """Rows of each `(sql, params)`: all in one transaction, all or nothing, D1's rules on."""
    for index, (_sql, params) in enumerate(statements, 1):
        for value in params:
            if isinstance(value, str):
                check_utf8(value, f"a value bound to batch statement {index}")
    conn = connect(db_path, create=create)
    try:
        with conn.transaction():
            return [
                conn.run_bound(sql, params, f"batch statement {i}")
                for i, (sql, params) in enumerate(statements, 1)
            ]
    finally:
        conn.close()
