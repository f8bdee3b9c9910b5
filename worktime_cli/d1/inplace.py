"""Replace a live local database's content in place, never its file.

`wrangler dev`, `worktime dev` or a sqlite3 shell may hold the database open. Had we deleted
or renamed the file and made a new one, such a process would keep reading and writing the
old inode through its file descriptor: every row it commits afterwards would vanish with it
(issue 19). So the new content goes into the live file through a connection, with SQLite's
online backup API: it writes every page in one write transaction of the live database (WAL
frames, then a commit), so every other connection sees the old content or the new one, never
a mix, re-reads the schema (the backup bumps the schema cookie), and keeps every row it
commits afterwards.

Two things of the live file stay as they are, so the source is first copied to a scratch
file when needed:
- its page size: the backup API cannot change it in WAL mode (SQLITE_READONLY), so the copy
  is made at the live file's page size (`VACUUM`);
- workerd's own tables (`_cf_METADATA`, `_cf_KV`, …): `wrangler dev` keeps its Durable
  Object's state there and fails every later query ("no such table: _cf_METADATA") when they
  go. They are not the user's data (D1 refuses `_cf_` names), so the live file's ones are
  carried into the new content and a source's own are left out.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from worktime_cli import fsutil
from worktime_cli.d1 import connection, databases
from worktime_cli.errors import LockedError, SQLError
from worktime_cli.sqlite.errors import (
    SQLITE_BUSY,
    SQLITE_LOCKED,
    busy_timeout_ms,
    locked_error,
    storage_error,
)
from worktime_cli.sqlite.script import quote_identifier

_OK = 0


def copy_into(
    target: Path,
    source: Path,
    *,
    what: str,
    under_lock: Callable[[], None] | None = None,
) -> None:
    """Make the database at `target` (created if missing) hold exactly `source`'s content.

    `under_lock` runs once the live file's write lock is ours and before the new content is
    committed: what it reads of `target` through another connection is the last content
    before the replacement, and no other process can commit in between (the snapshot taken
    before a reset or restore). An exception from it leaves `target` as it was.
    """
    scratch: Path | None = None
    live = connection.connect(target, create=True)
    try:
        (page_size,) = live.execute("PRAGMA page_size").fetchone()
        kept = _workerd_objects(target)
        src = _open_read_only(source)
        if _page_size(src) != page_size or kept or _workerd_objects(source):
            src.close()
            scratch = fsutil.temp_path(source)
            _prepare(source, scratch, page_size=page_size, live=target, kept=kept)
            src = _open_read_only(scratch)
        try:
            _backup(src, live, target, what=what, under_lock=under_lock)
        finally:
            src.close()
    finally:
        live.close()
        if scratch is not None:
            for leftover in (scratch, *(_sibling(scratch, s) for s in ("-journal", "-wal"))):
                leftover.unlink(missing_ok=True)


def _backup(
    src: sqlite3.Connection,
    live: sqlite3.Connection,
    target: Path,
    *,
    what: str,
    under_lock: Callable[[], None] | None,
) -> None:
    (pages,) = src.execute("PRAGMA page_count").fetchone()
    if pages < 2 and under_lock is not None:
        # One step would copy and commit at once, leaving no moment under the lock; a
        # source this small is an empty database, and this is the best left to do.
        under_lock()
        under_lock = None
    deadline = time.monotonic() + busy_timeout_ms(connection.BUSY_TIMEOUT_MS) / 1000
    pending = [under_lock]

    def progress(status: int, remaining: int, total: int) -> None:
        # Called after every step. Status OK with pages left: the first step took the live
        # file's write lock and keeps it until the last step commits.
        if status == _OK and pending[0] is not None:
            run, pending[0] = pending[0], None
            run()
        elif status in (SQLITE_BUSY, SQLITE_LOCKED) and time.monotonic() > deadline:
            raise _Busy

    try:
        # Two steps at least (all pages but one, then the last), so `progress` runs between.
        src.backup(live, pages=max(1, pages - 1), progress=progress, sleep=0.05)
    except _Busy:
        locked = locked_error(what=what)
        who = databases.in_use_by(target)
        raise LockedError(
            f"{locked.message} ({who})" if who else locked.message, locked.hint
        ) from None
    except sqlite3.Error as exc:
        raise storage_error(exc, target, what=what) or SQLError(
            f"cannot replace the content of {target}: {exc}"
        ) from None


class _Busy(Exception):
    """Raised from the backup's progress callback to stop waiting for the write lock."""


def _open_read_only(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SQLError(f"cannot open {path}: {exc}") from None


def _page_size(conn: sqlite3.Connection) -> int:
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    return int(size)


# workerd's tables in a Durable Object's database; `_cf_` is a prefix D1 refuses to users.
_WORKERD_PREFIX = "_cf_"


def _workerd_objects(path: Path) -> list[tuple[str, str, str]]:
    """(type, name, sql) of workerd's tables and their indexes in `path`, tables first."""
    conn = _open_read_only(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND type IN ('table', 'index') AND substr(tbl_name, 1, 4) = ? "
            "ORDER BY type = 'index', rowid",
            (_WORKERD_PREFIX,),
        ).fetchall()
    except sqlite3.Error as exc:
        raise SQLError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()
    return [(str(kind), str(name), str(sql)) for kind, name, sql in rows]


def _prepare(
    source: Path, scratch: Path, *, page_size: int, live: Path, kept: list[tuple[str, str, str]]
) -> None:
    """Copy `source` to `scratch` with the live file's page size and workerd tables.

    They are read before the write lock is taken; workerd writes them rarely (its own
    bookkeeping, not per query), and never while a worktime command holds that lock.
    """
    src = _open_read_only(source)
    copy = sqlite3.connect(scratch.as_uri(), uri=True, isolation_level=None)
    try:
        src.backup(copy)
        # A VACUUM may change the page size only outside WAL mode.
        copy.execute("PRAGMA journal_mode = DELETE")
        for kind, name, _ in _workerd_objects(scratch):
            if kind == "table":
                copy.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")
        if kept:
            copy.execute("ATTACH DATABASE ? AS live", (f"{live.as_uri()}?mode=ro",))
            copy.execute("BEGIN")
            for kind, name, sql in kept:
                copy.execute(sql)
                if kind == "table":
                    table = quote_identifier(name)
                    copy.execute(f"INSERT INTO main.{table} SELECT * FROM live.{table}")
            copy.execute("COMMIT")
            copy.execute("DETACH DATABASE live")
        copy.execute(f"PRAGMA page_size = {int(page_size)}")
        copy.execute("VACUUM")
    except sqlite3.Error as exc:
        raise storage_error(exc, scratch, what="temporary copy") or SQLError(
            f"cannot prepare a copy of {source}: {exc}"
        ) from None
    finally:
        with contextlib.suppress(sqlite3.Error):
            copy.close()
        src.close()


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
