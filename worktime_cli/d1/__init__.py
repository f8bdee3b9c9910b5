"""Local D1: SQLite connections that behave like D1, plus execute, info, create and delete.

Every connection gets D1's pragmas and limits, and an authorizer that refuses what D1
refuses, so a statement that would fail in production fails here first, with a clear message.
"""

from __future__ import annotations

import queue
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from worktime_cli import fsutil
from worktime_cli.errors import LockedError, NotFoundError, SQLError, UsageError, WorktimeError
from worktime_cli.project import config as configmod
from worktime_cli.project import state
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.errors import (
    busy_timeout_ms,
    is_busy,
    locked_error,
    note_waiting,
    storage_error,
)
from worktime_cli.sqlite.script import (
    INTERNAL_TABLE_PREFIXES,
    RESERVED_PREFIX,
    SQLFile,
    Statement,
    check_utf8,
    count_statements,
    iter_statements,
    open_sql_file,
    quote_identifier,
    shorten,
    split,
    without_transaction_wrapper,
)
from worktime_cli.targets.d1 import (
    BoundStatement,
    CreatedDatabase,
    DatabaseInfo,
    DatabaseList,
    DeletedDatabase,
    ExportResult,
    FileResult,
    StatementResult,
    TableInfo,
)

__all__ = [
    "INTERNAL_TABLE_PREFIXES",
    "RESERVED_PREFIX",
    "D1Connection",
    "DatabaseInfo",
    "FileResult",
    "LocalD1",
    "LocalDatabase",
    "StatementResult",
    "TableInfo",
    "connect",
    "execute_command",
    "execute_file",
    "export",
    "quote_identifier",
]

# How long a write queues behind another writer (a migration can run for minutes): long
# enough that a second `apply` waits instead of failing; $WORKTIME_BUSY_TIMEOUT overrides it.
BUSY_TIMEOUT_MS = 60_000


def _busy_ms() -> int:
    return busy_timeout_ms(BUSY_TIMEOUT_MS)


# D1's documented limits, applied per connection so local runs fail where D1 would.
LIMITS = {
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 50,
}
_LIMIT_HINTS = {
    "too many SQL variables": "D1 allows at most 100 bound parameters per statement",
    "string or blob too big": "D1 allows statements of at most 100,000 bytes",
    "query string is too large": "D1 allows statements of at most 100,000 bytes",
    "too many columns": "D1 allows at most 100 columns per table or result",
    "LIKE or GLOB pattern too complex": "D1 allows LIKE/GLOB patterns of at most 50 bytes",
}
_RENAME_TO_RESERVED = re.compile(r"\bRENAME\s+TO\s+[\"`\[]?_cf_", re.I)


class _Guard:
    """sqlite3 authorizer refusing what D1 refuses, armed only around user statements.

    Our own bookkeeping (BEGIN IMMEDIATE, COMMIT) runs disarmed. SQLite consults the
    authorizer only when it prepares a statement, so `connect` turns Python's statement
    cache off: otherwise user SQL identical to one of our control statements would reuse
    its prepared, unguarded copy. This runs once per action of every statement, so the
    common case returns early.
    """

    _REFUSED: ClassVar[dict[int, str]] = {
        sqlite3.SQLITE_TRANSACTION: "D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT "
        "statements; each command or file already runs in one transaction",
        sqlite3.SQLITE_SAVEPOINT: "D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT "
        "statements; each command or file already runs in one transaction",
        sqlite3.SQLITE_ATTACH: "D1 does not allow ATTACH or DETACH",
        sqlite3.SQLITE_DETACH: "D1 does not allow ATTACH or DETACH",
    }
    _TABLE_NAME_IN_ARG1 = frozenset(
        {
            sqlite3.SQLITE_CREATE_TABLE,
            sqlite3.SQLITE_CREATE_TEMP_TABLE,
            sqlite3.SQLITE_DROP_TABLE,
            sqlite3.SQLITE_DROP_TEMP_TABLE,
            sqlite3.SQLITE_INSERT,
            sqlite3.SQLITE_UPDATE,
            sqlite3.SQLITE_DELETE,
        }
    )
    _RESERVED = f"table names starting with {RESERVED_PREFIX!r} are reserved by D1"

    def __init__(self) -> None:
        self.armed = False
        self.reason: str | None = None
        # The authorizer sees a rename's old name only; `arm` reads the new one from the SQL.
        self.renames_to_reserved = False

    def arm(self, sql: str | None = None) -> None:
        self.armed = True
        self.reason = None
        self.renames_to_reserved = (
            sql is not None
            and sql[:5].upper() == "ALTER"
            and _RENAME_TO_RESERVED.search(sql) is not None
        )

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
    ) -> int:
        if not self.armed:
            return sqlite3.SQLITE_OK
        if action in self._TABLE_NAME_IN_ARG1:
            if arg1 is None or arg1[:4].lower() != RESERVED_PREFIX:
                return sqlite3.SQLITE_OK
            self.reason = self._RESERVED
        elif action == sqlite3.SQLITE_ALTER_TABLE:
            if not (self.renames_to_reserved or (arg2 or "")[:4].lower() == RESERVED_PREFIX):
                return sqlite3.SQLITE_OK
            self.reason = self._RESERVED
        elif (reason := self._REFUSED.get(action)) is not None:
            self.reason = reason
        else:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY


_TRANSACTION_RULE = _Guard._REFUSED[sqlite3.SQLITE_TRANSACTION]
_ATTACH_RULE = _Guard._REFUSED[sqlite3.SQLITE_ATTACH]
_REFUSED_START = re.compile(
    r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))\s*)*"
    r"(?P<word>BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|ATTACH|DETACH)(?![\w$])",
    re.S | re.I,
)


def refused_by_d1(sql: str) -> str | None:
    """Why D1 refuses this one statement (transaction control, ATTACH), or None.

    For targets without our authorizer (remote D1): the same words the guard uses, checked
    before anything is sent, so both targets refuse the same statement the same way.
    """
    match = _REFUSED_START.match(sql)
    if match is None:
        return None
    return _ATTACH_RULE if match["word"].upper() in ("ATTACH", "DETACH") else _TRANSACTION_RULE


class D1Connection(sqlite3.Connection):
    """A connection with D1's pragmas, limits and statement rules (see `connect`)."""

    guard: _Guard
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
        hint = next((h for key, h in _LIMIT_HINTS.items() if key in message), None)
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
            cached_statements=0,  # every statement passes the guard (see _Guard)
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
    conn.guard = _Guard()
    conn.set_authorizer(conn.guard)
    return conn


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
    native = _execute_natively(db_path, sql_file, on_progress)
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


# What a chunk must contain to break one of D1's rules: a statement that starts with a
# transaction-control keyword (BEGIN, COMMIT/END, ROLLBACK, SAVEPOINT; RELEASE fails
# without a SAVEPOINT) or ATTACH/DETACH, or a reserved `_cf_` name anywhere (which also
# covers renames to one). A statement starts at the chunk's start (chunks are cut between
# statements) or after a `;`, past blanks and comments. A chunk with none of these runs
# without the authorizer's per-action Python callback; a chunk with any, even inside a
# string, runs guarded, which is only slower. The pattern starts with a literal `;`, so
# the regex engine jumps from one `;` to the next instead of trying every position.
_STATEMENT_GAP = r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))\s*)*"
_GUARDED_START = r"(?:BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|ATTACH|DETACH)(?![\w$])"
_GUARDED_AFTER_SEMICOLON = re.compile(rf";{_STATEMENT_GAP}{_GUARDED_START}", re.S)
_GUARDED_AT_START = re.compile(rf"{_STATEMENT_GAP}{_GUARDED_START}", re.S)


def _needs_guard(body: str) -> bool:
    upper = body.upper()  # the patterns are case-sensitive: matching upper-case text is faster
    return (
        "_CF_" in upper
        or _GUARDED_AT_START.match(upper) is not None
        or _GUARDED_AFTER_SEMICOLON.search(upper) is not None
    )


# No complete line in this much text: leave it to the streaming splitter, which refuses a
# statement over D1's limit at once. Small, because finding the last complete line re-reads
# the pending text; at 64 MiB a long string literal took minutes (issue 13).
_MAX_PENDING = 2 << 20


def _execute_natively(
    db_path: Path, sql_file: SQLFile, on_progress: Callable[[int], None] | None
) -> tuple[int, int, int] | None:
    """(changes, last_row_id, statements) if the whole file ran on the fast path, else None.

    None means nothing was kept (rolled back): the portable path runs the file instead.
    """
    from worktime_cli.sqlite import native as sqlite_native

    if not fsutil.is_file(db_path):
        return None
    # No waiting here: a busy database falls to the portable path, which says it is waiting.
    native = sqlite_native.open_native(db_path, busy_timeout_ms=0, limits=LIMITS)
    if native is None:
        return None
    guard = _Guard()
    with native:
        try:
            # A bulk load: a large page cache keeps SQLite from spilling dirty pages into
            # the WAL mid-transaction, and synchronous=NORMAL skips the commit's fsync; the
            # checkpoint after COMMIT syncs the WAL and the database, so the load is durable
            # when the command returns.
            native.execute_script(
                "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; BEGIN IMMEDIATE;"
            )
        except sqlite_native.NativeError:
            return None  # locked or busy: the portable path reports it properly
        before = native.total_changes
        counter = _StatementCounter()
        try:
            for body in _native_bodies(sql_file.chunks(on_progress)):
                counter.add(body)
                guarded = _needs_guard(body)
                if guarded:
                    guard.arm()
                    guard.renames_to_reserved = _RENAME_TO_RESERVED.search(body) is not None
                    native.guard(guard)
                native.execute_script(body)
                if guarded:
                    native.guard(None)
            native.execute_script("COMMIT")
        except sqlite_native.NativeError:
            native.guard(None)
            with suppress(sqlite_native.NativeError):
                native.execute_script("ROLLBACK")
            return None
        finally:
            statements = counter.finish()
        changes, last_row_id = native.total_changes - before, native.last_row_id
        with suppress(sqlite_native.NativeError):  # busy readers: they checkpoint later
            native.execute_script("PRAGMA wal_checkpoint(PASSIVE)", rows_allowed=True)
        return changes, last_row_id, statements


class _StatementCounter:
    """Counts the statements of the bodies the fast path runs, on a thread of its own.

    `sqlite3_exec` is a ctypes call, which releases the GIL: counting one body overlaps
    SQLite running the previous one, instead of adding a tenth to a bulk load's time.
    """

    def __init__(self) -> None:
        self._bodies: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._total = 0
        self._thread = threading.Thread(target=self._run, name="worktime-count", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (body := self._bodies.get()) is not None:
            self._total += count_statements(body)

    def add(self, body: str) -> None:
        self._bodies.put(body)

    def finish(self) -> int:
        self._bodies.put(None)
        self._thread.join()
        return self._total


# A wrapper's BEGIN may follow PRAGMAs (`sqlite3 .dump` starts with foreign_keys=OFF).
_LEADING_BEGIN = re.compile(
    r"(?:PRAGMA\b[^;]*;\s*)*(?P<begin>BEGIN(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+TRANSACTION)?\s*;)",
    re.I,
)
_TRAILING_COMMIT = re.compile(r"(?<![\w$])(?:COMMIT|END)(?:\s+TRANSACTION)?\s*;\s*$", re.I)


def _native_bodies(chunks: Iterable[str]) -> Iterator[str]:
    """Runs of complete statements, cut at line ends, without a BEGIN…COMMIT wrapper.

    Cuts are made only after a newline where everything before is complete SQL: a newline
    ends any `--` comment, and inside a string or block comment the text is incomplete, so
    the rest always starts outside every token. The last run is held back one step so a
    closing COMMIT of a wrapper can be dropped.
    """
    from worktime_cli.sqlite.native import NativeError
    from worktime_cli.sqlite.script import leading_noise

    pending = ""
    held: str | None = None
    wrapped: bool | None = None
    for chunk in chunks:
        pending += chunk
        cut = _last_complete_line(pending)
        if cut == 0:
            if len(pending) > _MAX_PENDING:
                raise NativeError("no line break between statements")
            continue
        body, pending = pending[:cut], pending[cut:]
        if wrapped is None:
            begin = _LEADING_BEGIN.match(body, leading_noise(body))
            wrapped = begin is not None
            if begin is not None:
                body = body[: begin.start("begin")] + body[begin.end() :]
        if held is not None:
            yield held
        held = body
    final = (held or "") + pending
    if wrapped is None:
        begin = _LEADING_BEGIN.match(final, leading_noise(final))
        wrapped = begin is not None
        if begin is not None:
            final = final[: begin.start("begin")] + final[begin.end() :]
    if wrapped:
        commit = _TRAILING_COMMIT.search(final)
        # The COMMIT must be a statement of its own: what comes before it must be complete
        # SQL, or `DROP TABLE backEND;` would lose its last word.
        before = final[: commit.start()] if commit is not None else ""
        if commit is None or (before.strip() and not sqlite3.complete_statement(before)):
            raise NativeError("BEGIN without a final COMMIT")  # the portable path explains
        final = before
    if final.strip():
        yield final


def _last_complete_line(text: str) -> int:
    """Index just after the last newline that ends complete SQL, or 0."""
    end = len(text)
    for _ in range(64):  # a long multi-line string literal: give up and read more
        newline = text.rfind("\n", 0, end)
        if newline < 0:
            return 0
        if sqlite3.complete_statement(text[: newline + 1]) or not text[: newline + 1].strip():
            return newline + 1
        end = newline
    return 0


# --- databases ---------------------------------------------------------------------------


def database_path(cfg: Config, db: D1Binding, persist_to: Path | None) -> Path:
    return state.d1_path(state.root(cfg, persist_to), db.local_id)


def describe(cfg: Config, db: D1Binding, persist_to: Path | None, *, tables: bool) -> DatabaseInfo:
    """Facts about one database; with `tables`, user tables and their row counts."""
    path = database_path(cfg, db, persist_to)
    exists = fsutil.is_file(path)
    size = sum(p.stat().st_size for p in (path, _sibling(path, "-wal")) if p.is_file())
    table_info: tuple[TableInfo, ...] | None = None
    if tables:
        if not exists:
            raise NotFoundError(
                f"database {db.database_name!r} has no local file yet ({path})",
                hint=f"apply its migrations with `worktime d1 migrations apply {db.database_name}`",
            )
        table_info = tuple(list_tables(path))
    return DatabaseInfo(
        binding=db.binding,
        database_name=db.database_name,
        database_id=db.database_id,
        path=path,
        exists=exists,
        size=size,
        num_tables=None if table_info is None else len(table_info),
        tables=table_info,
    )


def list_tables(path: Path) -> Iterator[TableInfo]:
    """User tables with row counts; D1's and SQLite's internal tables are hidden."""
    conn = connect(path)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for name in names:
            if name.lower().startswith(INTERNAL_TABLE_PREFIXES):
                continue
            (count,) = conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()
            yield TableInfo(name, count)
    finally:
        conn.close()


def create(
    cfg: Config, name: str, persist_to: Path | None, binding: str | None = None
) -> CreatedDatabase:
    """Add a `[[d1_databases]]` entry for `name` and create its local file."""
    existing = {b.binding for b in cfg.d1_databases} | {b.binding for b in cfg.kv_namespaces}
    validate_database_name(name)
    if any(db.database_name == name for db in cfg.d1_databases):
        raise WorktimeError(f"database {name!r} already exists in {cfg.path.name}")
    if binding is None:
        binding = "DB" if "DB" not in existing else configmod.binding_from_name(name)
    if binding in existing:
        raise WorktimeError(
            f"binding {binding!r} is already used in {cfg.path.name}",
            hint="choose one with --binding",
        )
    entry = {
        "binding": binding,
        "database_name": name,
        "database_id": str(uuid.uuid4()),
        "migrations_dir": configmod.DEFAULT_MIGRATIONS_DIR,
    }
    # State first, config second, the state rolled back if the config edit fails: a
    # read-only or full state folder must not leave an entry without its file (issue 13).
    planned = D1Binding(binding=binding, database_name=name, database_id=entry["database_id"])
    path = database_path(cfg, planned, persist_to)
    existed = path.exists()
    try:
        connect(path, create=True).close()
        new_cfg = configmod.append_table(cfg, "d1_databases", entry)
    except BaseException:
        if not existed:
            for candidate in (path, _sibling(path, "-wal"), _sibling(path, "-shm")):
                with suppress(OSError):
                    candidate.unlink(missing_ok=True)
        raise
    db = new_cfg.d1(name)
    assert database_path(new_cfg, db, persist_to) == path
    return CreatedDatabase(
        binding=db.binding,
        database_name=db.database_name,
        database_id=entry["database_id"],
        config=new_cfg.path,
        path=path,
    )


_DATABASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def validate_database_name(name: str) -> None:
    """Letters, digits, `-`, `_`, `.`; no path tricks (the name names folders of ours)."""
    if not _DATABASE_NAME.fullmatch(name) or ".." in name:
        raise WorktimeError(
            f"{name!r} is not a valid database name",
            hint="use letters, digits, '-', '_' and '.', starting with a letter or digit",
        )


def delete(cfg: Config, db: D1Binding, persist_to: Path | None) -> DeletedDatabase:
    """Remove the local file (and its WAL/SHM) and the wrangler.toml entry.

    Refused while another process holds the file open: it would go on writing into the
    deleted file, and believe its rows kept (issue 19).
    """
    path = database_path(cfg, db, persist_to)
    existed = path.exists()
    refuse_if_open(path, db.database_name)
    for candidate in (path, _sibling(path, "-wal"), _sibling(path, "-shm")):
        candidate.unlink(missing_ok=True)
    configmod.remove_table(cfg, "d1_databases", {"binding": db.binding})
    return DeletedDatabase(
        database_name=db.database_name,
        database_id=db.database_id,
        path=path,
        had_file=existed,
        config=cfg.path,
    )


def in_use_by(path: Path) -> str:
    """`PID 123 (workerd), PID 456 (sqlite3)`: who holds the database at `path` open ('': none
    that we can see)."""
    return fsutil.in_use_by((path, _sibling(path, "-wal"), _sibling(path, "-shm")))


def refuse_if_open(path: Path, database_name: str) -> None:
    """A `LockedError` naming the processes that hold the database at `path` open, if any do."""
    who = in_use_by(path)
    if who:
        raise LockedError(
            f"database {database_name} is in use by {who}; nothing was deleted",
            hint="stop that process (wrangler dev, worktime dev, a sqlite3 shell), then run "
            "the command again",
        )


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def export(
    db_path: Path,
    output: Path,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ExportResult:
    """Dump a local database to `output` (see `dump`): re-imports with `execute_file`."""
    from worktime_cli.d1 import dump

    dump.check_parts(data=data, schema=schema)
    conn = connect(db_path)
    try:
        return dump.export(
            conn, output, data=data, schema=schema, tables=tables, on_progress=on_progress
        )
    finally:
        conn.close()


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


# --- the local target of the seam (see worktime_cli.targets.d1) ------------------------------


class LocalDatabase:
    """One configured database's local file, as `wrangler dev` uses it."""

    def __init__(self, binding: D1Binding, path: Path) -> None:
        self.binding = binding
        self.path = path

    @property
    def name(self) -> str:
        return self.binding.database_name

    @property
    def database_id(self) -> str | None:
        return self.binding.database_id

    def execute(self, sql: str) -> list[StatementResult]:
        # A configured database without a file yet is created, as `wrangler d1 execute` does.
        return execute_command(self.path, sql, create=True)

    def execute_file(
        self,
        path: Path,
        on_progress: Callable[[int], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> FileResult:
        return execute_file(self.path, path, on_progress, create=True)

    def import_warning(self, path: Path) -> str | None:
        return None  # a local file stays usable: nothing to confirm

    def export(
        self,
        output: Path,
        *,
        data: bool = True,
        schema: bool = True,
        tables: Sequence[str] = (),
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> ExportResult:
        return export(
            self.path, output, data=data, schema=schema, tables=tables, on_progress=on_progress
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return query(self.path, sql, params, create=True)

    def batch(self, statements: Sequence[BoundStatement]) -> list[list[dict[str, Any]]]:
        return batch(self.path, statements, create=True)


class LocalD1:
    """The databases configured in wrangler.toml, backed by local SQLite files."""

    place = "local"

    def __init__(self, config: Config, persist_to: Path | None = None) -> None:
        self.config = config
        self.persist_to = persist_to

    def list(self) -> DatabaseList:
        return DatabaseList(
            tuple(
                describe(self.config, db, self.persist_to, tables=False)
                for db in self.config.d1_databases
            )
        )

    def create(
        self, name: str, *, binding: str | None = None, location: str | None = None
    ) -> CreatedDatabase:
        if location is not None:
            raise UsageError("--location needs --remote")
        return create(self.config, name, self.persist_to, binding)

    def delete(self, name: str) -> DeletedDatabase:
        return delete(self.config, self.config.d1(name), self.persist_to)

    def info(self, name: str) -> DatabaseInfo:
        return describe(self.config, self.config.d1(name), self.persist_to, tables=True)

    def database(self, name_or_binding: str, *, preview: bool = False) -> LocalDatabase:
        db = self.config.d1(name_or_binding)
        if preview:  # the local file is the preview id's already (`local_id`)
            db = db.previewed(self.config.path.name)
        return LocalDatabase(db, database_path(self.config, db, self.persist_to))
