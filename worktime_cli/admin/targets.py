"""The two storage protocols the admin core needs, and their local implementations.

The CLI context's D1 and KV targets (`targets.d1.D1Database`, `targets.kv.KVNamespace`)
provide these methods, so the core never asks whether it runs locally or on Cloudflare.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from worktime_cli.errors import LockedError, SQLError

if TYPE_CHECKING:
    from worktime_cli.d1 import D1Connection
    from worktime_cli.kv import Entry, KeyInfo, Page

Statement = tuple[str, Sequence[Any]]


class Database(Protocol):
    """A D1 database: single queries, and batches that are all-or-nothing."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]: ...


class Namespace(Protocol):
    """A KV namespace: the operations tokens and users need (`targets.kv.KVNamespace` has them)."""

    def get(self, key: str) -> Entry | None: ...

    def put(self, key: str, value: bytes, *, expiration_ttl: int | None = None) -> object: ...

    def page(
        self, *, prefix: str | None = None, cursor: str | None = None, limit: int = 1000
    ) -> Page: ...

    def delete(self, key: str) -> object: ...


def all_keys(namespace: Namespace, prefix: str) -> list[KeyInfo]:
    """Every key under `prefix`, following the cursor."""
    keys: list[KeyInfo] = []
    cursor: str | None = None
    while True:
        page = namespace.page(prefix=prefix, cursor=cursor, limit=1000)
        keys.extend(page.keys)
        if page.cursor is None:
            return keys
        cursor = page.cursor


def describe(place: str, name: str) -> str:
    """How prompts name a database, from where its target says it is (`D1Databases.place`)."""
    return f"the {place} database {name}"


def local_file(db: object) -> Path | None:
    """The SQLite file behind a local database handle; None for a remote one.

    Work that is only worth doing on the file itself (sqlite-utils' bulk insert) asks this
    instead of the command asking whether it runs with --remote.
    """
    from worktime_cli.d1 import LocalDatabase

    if isinstance(db, LocalDatabase | SQLiteDatabase):
        return db.path
    return None


class SQLiteDatabase:
    """A local D1 file on one connection kept open (`d1.connect`: foreign keys, D1's limits).

    Commands use the CLI context's database; this is for callers that run many batches on one
    file (demo data, tests, the bench) without reopening it each time.
    """

    def __init__(self, path: Path, conn: D1Connection | None = None) -> None:
        from worktime_cli import d1

        self.path = path
        self.conn = d1.connect(path) if conn is None else conn

    @classmethod
    def over(cls, conn: D1Connection) -> SQLiteDatabase:
        """The protocol over a connection someone else opened (and closes)."""
        return cls(Path(conn.execute("PRAGMA database_list").fetchone()[2]), conn)

    def __enter__(self) -> SQLiteDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            return _rows(self.conn.execute(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise _sql_error(exc) from None

    def batch(self, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        try:
            with self.conn.transaction():
                for sql, params in statements:
                    out.append(_rows(self.conn.execute(sql, tuple(params))))
        except sqlite3.Error as exc:
            raise _sql_error(exc) from None
        return out


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _sql_error(exc: sqlite3.Error) -> SQLError | LockedError:
    if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return LockedError(
            "database is locked by another process",
            hint="another worktime or wrangler command is writing; try again when it finishes",
        )
    return SQLError(str(exc))
