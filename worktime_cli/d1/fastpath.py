"""The fast path of `execute --file`: runs of complete statements handed to SQLite's own loop
(`sqlite.native`), guarded only where a chunk could break one of D1's rules, and counted on a
thread of their own.
"""

from __future__ import annotations

import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from pathlib import Path

from worktime_cli import fsutil
from worktime_cli.d1.rules import LIMITS, RENAME_TO_RESERVED, Guard
from worktime_cli.sqlite.script import SQLFile, count_statements

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


def execute_natively(
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
    guard = Guard()
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
                    guard.renames_to_reserved = RENAME_TO_RESERVED.search(body) is not None
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
