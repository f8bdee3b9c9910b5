"""A SQLite connection that behaves like D1: its pragmas, limits and authorizer, writes that
queue on the busy timeout, and user statements whose errors name `source:line`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.d1.rules import LIMIT_HINTS, LIMITS, Guard
from worktime_cli.errors import NotFoundError, SQLError, WorktimeError
from worktime_cli.sqlite.errors import (
    busy_timeout_ms,
    is_busy,
    locked_error,
    note_waiting,
    storage_error,
)
from worktime_cli.sqlite.script import Statement, shorten, split
from worktime_cli.targets.d1 import StatementResult

# How long a write queues behind another writer (a migration can run for minutes): long
# enough that a second `apply` waits instead of failing; $WORKTIME_BUSY_TIMEOUT overrides it.
BUSY_TIMEOUT_MS = 60_000


def _busy_ms() -> int:
    return busy_timeout_ms(BUSY_TIMEOUT_MS)


class D1Connection(sqlite3.Connection):
    """A connection with D1's pragmas, limits and statement rules (see `connect`)."""

    guard: Guard
    path: Path

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[None]:
        """`BEGIN IMMEDIATE` … `COMMIT`, rolled back on any exception.

        IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout
        instead of failing half-way with SQLITE_BUSY on their first write. A write that has
        to queue says so first (`note_waiting`). `read_only` begins DEFERRED: in WAL mode a
        reader takes no write lock and never waits for a writer.
        """
        if read_only:
            self.execute("BEGIN DEFERRED /* worktime */")
        else:
            self._begin_immediate()
        try:
            yield
        except BaseException:
            if self.in_transaction:
                self.execute("ROLLBACK /* worktime */")
            raise
        else:
            try:
                self.execute("COMMIT /* worktime */")
            except sqlite3.Error as exc:
                if self.in_transaction:
                    self.execute("ROLLBACK /* worktime */")
                raise SQLError(f"commit failed: {exc}") from None

    def _begin_immediate(self) -> None:
        timeout = _busy_ms()
        try:
            self.execute("PRAGMA busy_timeout = 0 /* worktime */")
            try:
                self.execute("BEGIN IMMEDIATE /* worktime */")
                return
            except sqlite3.Error as exc:
                if not is_busy(exc) or timeout == 0:
                    raise
            note_waiting(f"database {self.path}", timeout)
            self.execute(f"PRAGMA busy_timeout = {timeout} /* worktime */")
            self.execute("BEGIN IMMEDIATE /* worktime */")
        except sqlite3.Error as exc:
            raise _locked_or(exc) from None
        finally:
            with suppress(sqlite3.Error):
                self.execute(f"PRAGMA busy_timeout = {timeout} /* worktime */")

    def run(self, statement: Statement, source: str, *, collect: bool = True) -> StatementResult:
        """Execute one user statement under D1's rules; errors name `source:line`.

        With `collect=False` rows are stepped through but not kept (migrations).
        """
        started = time.perf_counter()
        self.guard.arm(statement.sql)
        try:
            cursor = self.execute(statement.sql)
            rows = _rows(cursor) if collect else _drain(cursor)
        except sqlite3.Error as exc:
            raise self._located(exc, statement, source) from None
        finally:
            self.guard.armed = False
        return StatementResult(
            results=rows,
            meta={
                "duration": round((time.perf_counter() - started) * 1000, 3),
                "changes": max(cursor.rowcount, 0),
                "last_row_id": cursor.lastrowid or 0,
            },
        )

    def run_bound(self, sql: str, params: Sequence[Any], source: str) -> list[dict[str, Any]]:
        """Rows of ONE user statement with bound values, under D1's rules."""
        statements = split(sql)
        if len(statements) != 1:
            raise SQLError(
                f"{source}: expected one SQL statement, got {len(statements)}",
                hint="send one statement per call when binding parameters",
            )
        (statement,) = statements
        self.guard.arm(statement.sql)
        try:
            return _rows(self.execute(statement.sql, tuple(params)))
        except sqlite3.Error as exc:
            raise self._located(exc, statement, source) from None
        finally:
            self.guard.armed = False

    def run_stream(self, statements: Iterable[Statement], source: str) -> list[dict[str, Any]]:
        """Execute many user statements with little per-statement work; return their rows.

        The portable `execute --file` loop: one guard arming per statement and no result
        object per statement; only row-returning statements leave anything behind.
        """
        guard = self.guard
        execute = self.execute
        rows: list[dict[str, Any]] = []
        statement = None
        try:
            for statement in statements:
                guard.arm(statement.sql)
                cursor = execute(statement.sql)
                if cursor.description is not None:
                    rows.extend(_rows(cursor))
        except sqlite3.Error as exc:
            assert statement is not None
            raise self._located(exc, statement, source) from None
        finally:
            guard.armed = False
        return rows

    @property
    def last_row_id(self) -> int:
        return int(self.execute("SELECT last_insert_rowid() /* worktime */").fetchone()[0])

    def _located(self, exc: sqlite3.Error, statement: Statement, source: str) -> WorktimeError:
        if self.guard.reason is None and is_busy(exc):
            # By code: a table called `unlocked_items` is not a lock (and the place stays).
            return locked_error(f"{source}:{statement.line}: ")
        message = self.guard.reason or str(exc)
        hint = next((h for key, h in LIMIT_HINTS.items() if key in message), None)
        return SQLError(
            f"{source}:{statement.line}: {message} (in: {shorten(statement.sql)})", hint=hint
        )


def _drain(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    for _ in cursor:
        pass
    return []


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _locked_or(exc: sqlite3.Error) -> WorktimeError:
    return locked_error() if is_busy(exc) else SQLError(str(exc))


def set_wal_mode(conn: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL`, waiting out other writers.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at
    once there instead of calling the busy handler (two `apply` runs on a fresh database
    meet here), so the wait is ours: up to the busy timeout.
    """
    deadline = time.monotonic() + _busy_ms() / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def connect(path: Path, *, create: bool = False) -> D1Connection:
    """Open a local D1 file with D1's behaviour. Without `create`, a missing file is an error."""
    if not create and not fsutil.is_file(path):
        raise NotFoundError(
            f"local database file {path} does not exist",
            hint="create it with `worktime d1 create NAME` or `worktime init`",
        )
    with fsutil.translated(path.parent, "create"):
        path.parent.mkdir(parents=True, exist_ok=True)
    timeout_ms = _busy_ms()
    try:
        conn = sqlite3.connect(
            path,
            factory=D1Connection,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            timeout=timeout_ms / 1000,
            check_same_thread=False,  # the dev server hands connections to worker threads
            cached_statements=0,  # every statement passes the guard (see rules.Guard)
        )
    except sqlite3.Error as exc:
        raise storage_error(exc, path) or SQLError(f"cannot open {path}: {exc}") from None
    assert isinstance(conn, D1Connection)
    conn.path = path
    try:
        # foreign_keys is per connection and off by default; it is also a silent no-op
        # inside a transaction, so it must be set here, before any BEGIN.
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        set_wal_mode(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if is_busy(exc):
            raise locked_error() from None
        raise storage_error(exc, path) or SQLError(
            f"{path} is not a usable SQLite database: {exc}"
        ) from None
    for limit, value in LIMITS.items():
        conn.setlimit(limit, value)
    conn.guard = Guard()
    conn.set_authorizer(conn.guard)
    return conn
