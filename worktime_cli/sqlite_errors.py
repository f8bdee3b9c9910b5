"""Classify SQLite errors by their result code, never by the words of the message.

A table named `unlocked_items` must not turn "no such table: unlocked_items" into "database
is locked": SQLite says what happened in `sqlite_errorcode` (Python 3.11+), and the primary
code is its low byte (SQLITE_BUSY_SNAPSHOT = 5 | 2<<8, SQLITE_LOCKED_SHAREDCACHE = 6 | 1<<8 …).
"""

from __future__ import annotations

from worktime_cli.errors import LockedError

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
