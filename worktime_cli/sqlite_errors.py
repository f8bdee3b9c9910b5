"""Classify SQLite errors by their result code, never by the words of the message.

A table named `unlocked_items` must not turn "no such table: unlocked_items" into "database
is locked": SQLite says what happened in `sqlite_errorcode` (Python 3.11+), and the primary
code is its low byte (SQLITE_BUSY_SNAPSHOT = 5 | 2<<8, SQLITE_LOCKED_SHAREDCACHE = 6 | 1<<8 …).
"""

from __future__ import annotations

from worktime_cli.errors import LockedError, WorktimeError

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
    return WorktimeError(f"cannot use the {what} {path}: {why}", hint=fix)
