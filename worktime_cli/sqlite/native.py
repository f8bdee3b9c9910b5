"""`sqlite3_exec` on whole chunks of SQL, for `d1 execute --file`.

Python's sqlite3 API prepares and steps one statement per call; on a 100,000-statement dump
that per-call overhead is most of the run time. `sqlite3_exec` runs a chunk of statements in
C. This module reaches it through ctypes, on the *same* library instance the sqlite3 module
already loaded (found in /proc/self/maps): two copies of SQLite in one process would not see
each other's POSIX locks. Where that cannot be established (not Linux, SQLite linked
statically into Python, a version mismatch), `open_native` returns None and callers use the
portable path. On macOS and Windows there is no /proc/self/maps, so the portable path is
the only one there; `WORKTIME_NATIVE_SQLITE=0` forces it anywhere (tests, benchmarks, and a
way out should this path ever misbehave).

The connection gets D1's pragmas and limits like `d1.connect`; D1's statement rules are
enforced by the same guard, installed only for chunks that could break them (see `d1`).
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

_SQLITE_OK = 0
_OPEN_READWRITE = 0x00000002
_OPEN_FULLMUTEX = 0x00010000

# Where Linux lists the libraries this process has mapped. Missing elsewhere (macOS,
# Windows), which turns this path off; tests point it at a missing file to act as macOS.
MAPS = Path("/proc/self/maps")
# The switch, read only by `enabled`: "0", "off", "false" or "no" forces the portable path.
SWITCH = "WORKTIME_NATIVE_SQLITE"

_AUTHORIZER = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
)
_ROW_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_char_p),
    ctypes.POINTER(ctypes.c_char_p),
)


class NativeError(Exception):
    """A chunk failed or returned rows: the caller redoes the work on the portable path."""


def enabled() -> bool:
    """False when $WORKTIME_NATIVE_SQLITE turns this path off (read on every call)."""
    return os.environ.get(SWITCH, "").strip().lower() not in ("0", "off", "false", "no")


@cache
def _library() -> Any | None:
    import _sqlite3  # noqa: F401  # make sure Python's own copy is loaded first

    try:
        with open(MAPS, encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libsqlite3" in line and "/" in line}
    except OSError:
        return None  # no /proc (macOS, Windows): the portable path, silently
    if len(paths) != 1:
        return None  # statically linked, or two copies already: do not add to the confusion
    try:
        # The file may be gone since it was mapped (an upgrade: the entry ends "(deleted)").
        lib = ctypes.CDLL(paths.pop())
    except OSError:
        return None
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return None
    lib.sqlite3_open_v2.argtypes = [
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    lib.sqlite3_close_v2.argtypes = [ctypes.c_void_p]
    lib.sqlite3_exec.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        _ROW_CALLBACK,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.sqlite3_free.argtypes = [ctypes.c_void_p]
    lib.sqlite3_errmsg.argtypes = [ctypes.c_void_p]
    lib.sqlite3_errmsg.restype = ctypes.c_char_p
    lib.sqlite3_busy_timeout.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.sqlite3_limit.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.sqlite3_total_changes.argtypes = [ctypes.c_void_p]
    lib.sqlite3_last_insert_rowid.argtypes = [ctypes.c_void_p]
    lib.sqlite3_last_insert_rowid.restype = ctypes.c_int64
    lib.sqlite3_set_authorizer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return lib


class NativeConnection:
    """One connection made through the C API. Use as a context manager."""

    def __init__(self, lib: Any, handle: ctypes.c_void_p) -> None:
        self._lib = lib
        self._db = handle
        self._rows_seen = False
        self._rows_allowed = False

        def on_row(_arg: Any, _n: int, _values: Any, _names: Any) -> int:
            # Rows must come back typed, which this path cannot do: abort the chunk.
            self._rows_seen = True
            return 0 if self._rows_allowed else 1

        self._on_row = _ROW_CALLBACK(on_row)  # kept alive as long as the connection
        self._authorizer: Any = None

    def __enter__(self) -> NativeConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._db:
            self._lib.sqlite3_close_v2(self._db)
            self._db = ctypes.c_void_p()

    def execute_script(self, sql: str, *, rows_allowed: bool = False) -> None:
        """Run every statement in `sql`; raise NativeError on an error or (unless allowed) a row."""
        error = ctypes.c_void_p()
        self._rows_seen = False
        self._rows_allowed = rows_allowed
        rc = self._lib.sqlite3_exec(
            self._db, sql.encode("utf-8"), self._on_row, None, ctypes.byref(error)
        )
        if error:
            message = ctypes.cast(error, ctypes.c_char_p).value or b""
            self._lib.sqlite3_free(error)
        else:
            message = b""
        if rc != _SQLITE_OK or (self._rows_seen and not rows_allowed):
            raise NativeError(message.decode("utf-8", "replace") or f"sqlite3_exec returned {rc}")

    def guard(
        self,
        authorizer: Callable[[int, str | None, str | None, str | None, str | None], int] | None,
    ) -> None:
        """Install (or with None, remove) an authorizer for the statements that follow."""
        if authorizer is None:
            self._authorizer = None
            self._lib.sqlite3_set_authorizer(self._db, None, None)
            return

        def call(
            _arg: Any,
            action: int,
            a: bytes | None,
            b: bytes | None,
            c: bytes | None,
            d: bytes | None,
        ) -> int:
            return authorizer(
                action, *(None if v is None else v.decode("utf-8", "replace") for v in (a, b, c, d))
            )

        self._authorizer = _AUTHORIZER(call)
        self._lib.sqlite3_set_authorizer(
            self._db, ctypes.cast(self._authorizer, ctypes.c_void_p), None
        )

    @property
    def total_changes(self) -> int:
        return int(self._lib.sqlite3_total_changes(self._db))

    @property
    def last_row_id(self) -> int:
        return int(self._lib.sqlite3_last_insert_rowid(self._db))


def open_native(
    path: Path, *, busy_timeout_ms: int, limits: dict[int, int]
) -> NativeConnection | None:
    """A native connection to an existing database file, or None where this path is unsafe
    or switched off ($WORKTIME_NATIVE_SQLITE=0)."""
    if not enabled():
        return None
    lib = _library()
    if lib is None:
        return None
    handle = ctypes.c_void_p()
    rc = lib.sqlite3_open_v2(
        str(path).encode(), ctypes.byref(handle), _OPEN_READWRITE | _OPEN_FULLMUTEX, None
    )
    conn = NativeConnection(lib, handle)
    if rc != _SQLITE_OK:
        conn.close()
        return None
    lib.sqlite3_busy_timeout(handle, busy_timeout_ms)
    for limit, value in limits.items():
        lib.sqlite3_limit(handle, limit, value)
    try:
        # foreign_keys first: it is a no-op once a transaction has begun.
        conn.execute_script(
            "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;", rows_allowed=True
        )
    except NativeError:
        conn.close()
        return None
    return conn
