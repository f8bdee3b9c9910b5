"""Classify SQLite errors by their result code, never by the words of the message.

A table named `unlocked_items` must not turn "no such table: unlocked_items" into "database
is locked": SQLite says what happened in `sqlite_errorcode` (Python 3.11+), and the primary
code is its low byte (SQLITE_BUSY_SNAPSHOT = 5 | 2<<8, SQLITE_LOCKED_SHAREDCACHE = 6 | 1<<8 …).
"""

from __future__ import annotations

import math
import os

from worktime_cli.errors import LockedError, UsageError, WorktimeError

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
_BUSY_CODES = frozenset({SQLITE_BUSY, SQLITE_LOCKED})

LOCKED_HINT = "another worktime or wrangler command is writing; try again when it finishes"


def primary_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of `exc`, or None when it carries none."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_busy(exc: BaseException) -> bool:
    """True when another connection holds the lock (SQLITE_BUSY, SQLITE_LOCKED, extended)."""
    return primary_code(exc) in _BUSY_CODES


def locked_error(where: str = "", *, what: str = "database") -> LockedError:
    """The one message for a lock held too long; `where` is a `file:line: ` prefix or ''."""
    return LockedError(f"{where}{what} is locked by another process", hint=LOCKED_HINT)


# What a failed open or write of a database file means for the user, by primary code.
SQLITE_PERM = 3
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
_STORAGE: dict[int, tuple[str, str]] = {
    SQLITE_PERM: (
        "permission denied",
        "check the owner and mode of the file and its folder (ls -l)",
    ),
    SQLITE_READONLY: (
        "it is read-only (file, folder or file system)",
        "make it and its folder writable by you, or use another state folder (--persist-to DIR)",
    ),
    SQLITE_IOERR: (
        "the disk reported an I/O error (or the file-size limit, ulimit -f, was reached)",
        "free some space or raise `ulimit -f`, then run the command again",
    ),
    SQLITE_CORRUPT: (
        "the file is corrupted",
        "move it aside (and restore a snapshot with `worktime d1 restore` for a database)",
    ),
    SQLITE_NOTADB: (
        "it is not a SQLite database",
        "move it aside; wrangler would not be able to read it either",
    ),
    SQLITE_FULL: ("the disk is full", "free some space, then run the command again"),
    SQLITE_CANTOPEN: (
        "it cannot be opened (missing folder, or no permission to create files in it)",
        "check that its folder exists and that you own it (ls -ld), or use --persist-to DIR",
    ),
}


def storage_error(
    exc: BaseException, path: object, *, what: str = "database"
) -> WorktimeError | None:
    """`cannot use the <what> <path>: <why>` + a fix for a storage fault, by code; else None."""
    code = primary_code(exc)
    if code is None or code not in _STORAGE:
        return None
    why, fix = _STORAGE[code]
    if code in (SQLITE_CANTOPEN, SQLITE_READONLY) and _on_read_only_fs(path):
        # SQLite cannot tell "read-only file system" from "no permission": the kernel can.
        why = "it is on a read-only file system"
        fix = "remount it read-write, or use a writable state folder (--persist-to DIR)"
    return WorktimeError(f"cannot use the {what} {path}: {why}", hint=fix)


def _on_read_only_fs(path: object) -> bool:
    folder = os.path.dirname(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None
    while folder:
        try:
            return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            parent = os.path.dirname(folder)
            folder = parent if parent != folder else None
    return False


BUSY_TIMEOUT_ENV = "WORKTIME_BUSY_TIMEOUT"
_MAX_BUSY_SECONDS = 7 * 24 * 3600


def busy_timeout_ms(default_ms: int) -> int:
    """How long a write waits for another writer: `$WORKTIME_BUSY_TIMEOUT` seconds, or the default."""
    raw = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return default_ms
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= _MAX_BUSY_SECONDS:  # also refuses nan and inf
        raise UsageError(
            f"{BUSY_TIMEOUT_ENV} must be a number of seconds from 0 to {_MAX_BUSY_SECONDS}",
            hint=f"e.g. {BUSY_TIMEOUT_ENV}=120",
        )
    return int(seconds * 1000)


def note_waiting(what: str, timeout_ms: int) -> None:
    """Say (on the `worktime` logger: stderr unless the CLI routes it) that a write is queued.

    The core never prints; a logger is how it can still tell a person why nothing happens.
    """
    import logging

    logging.getLogger("worktime").warning(
        "waiting for another writer to finish with %s (up to %g s; %s sets how long)",
        what,
        timeout_ms / 1000,
        BUSY_TIMEOUT_ENV,
    )
