"""Local Workers KV, stored exactly as wrangler 4 / miniflare store it: the index and `KVStore`.

Layout (checked against wrangler 4.86's own files):

- index: `<state>/v3/kv/miniflare-KVNamespaceObject/<do id>.sqlite`, one table `_mf_entries`
  (key, blob_id, expiration in **milliseconds**, metadata as JSON text), WAL journal;
- values: `<state>/v3/kv/<namespace id>/blobs/<blob id>`, one file per value (`blobs`: their
  names, durable writes, the writers' lock and the orphan gc).

Crash safety: a value's file is written and synced *before* the row that points at it is
committed, and a replaced value's file is deleted only *after* the commit. So a crash at any
point leaves the old row (with its old, untouched file) or the new row (with its complete new
file); the worst case is an orphaned file, which `gc()` removes (each store does so on its
first write, for orphans older than `GC_GRACE_SECONDS`).

Threads: a `KVStore` may be shared between threads (the dev server does): it holds one
SQLite connection opened with `check_same_thread=False`, and every operation runs under the
store's lock. Other processes (wrangler dev, another worktime) are coordinated by SQLite's
own locking; a store that stays locked longer than the busy timeout raises `LockedError`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from worktime_cli import clock as worktime_clock
from worktime_cli import fsutil
from worktime_cli.errors import LockedError, WorktimeError
from worktime_cli.kv.blobs import GC_GRACE_SECONDS, BlobFolder, blob_dir_name
from worktime_cli.kv.limits import (
    Row,
    check_list_args,
    latest_rows,
    validate_item,
    validate_key,
)
from worktime_cli.kv.records import Entry, KeyInfo, Page, PutItem
from worktime_cli.project import state
from worktime_cli.sqlite.errors import storage_error

BUSY_TIMEOUT_SECONDS = 10.0

# miniflare's schema, byte for byte: sqlite_master keeps the text, so a store we create is
# indistinguishable from one wrangler created.
_SCHEMA = """CREATE TABLE IF NOT EXISTS _mf_entries (
  key TEXT PRIMARY KEY,
  blob_id TEXT NOT NULL,
  expiration INTEGER,
  metadata TEXT
);
CREATE INDEX IF NOT EXISTS _mf_entries_expiration_idx ON _mf_entries(expiration);
"""
_SQL_CHUNK = 500


class KVStore:
    """One local KV namespace. Safe to share between threads; see the module docstring."""

    def __init__(
        self,
        state_root: Path,
        namespace_id: str,
        *,
        clock: Callable[[], float] = worktime_clock.timestamp,
    ) -> None:
        folder = blob_dir_name(namespace_id)
        # The value folder is `v3/kv/<id>`: an empty id would make it `v3/kv` itself, and
        # miniflare's index folder is a sibling; neither may ever be a namespace's own.
        if not folder or folder == state.KV_UNIQUE_KEY:
            raise WorktimeError(
                f"{namespace_id!r} cannot be a KV namespace id",
                hint="use the namespace's binding or its 32-hex id from wrangler.toml",
            )
        self.namespace_id = namespace_id
        self.index_path = state.kv_index_path(state_root, namespace_id)
        self.blobs = BlobFolder(state.kv_blobs_dir(state_root, blob_dir_name(namespace_id)), clock)
        self.blobs_dir = self.blobs.path
        self._clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._collected = False

    # -- lifecycle --

    def __enter__(self) -> KVStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def exists(self) -> bool:
        return fsutil.is_file(self.index_path)

    def create(self) -> None:
        """Create the (empty) index and value folder now rather than on the first write.

        `worktime init` uses this so a new project's namespace exists on disk, as wrangler
        dev would leave it after its first request.
        """
        with self._lock:
            self._connect(create=True)
        with fsutil.translated(self.blobs_dir, "create"):
            self.blobs_dir.mkdir(parents=True, exist_ok=True)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The connection, opened on first use; `None` when reading a store never written."""
        if self._conn is not None:
            return self._conn
        if not create and not fsutil.is_file(self.index_path):
            return None
        with fsutil.translated(self.index_path.parent, "create"):
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so the write lock
            # is taken up front, never upgraded half-way (which can deadlock in WAL mode).
            conn = sqlite3.connect(
                self.index_path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            # workerd keeps its durable-object databases in WAL mode; so do we.
            from worktime_cli.d1 import set_wal_mode

            set_wal_mode(conn)
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(UnboundLocalError):
                conn.close()
            raise _sqlite_error(exc, self.index_path) from None
        self._conn = conn
        return conn

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- reads --

    def get(self, key: str) -> Entry | None:
        """The live entry for `key`, or None (an expired entry is purged when seen)."""
        validate_key(key)
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return None
            try:
                row = conn.execute(
                    "SELECT blob_id, expiration, metadata FROM _mf_entries WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(exc, self.index_path) from None
            if row is None:
                return None
            blob_id, expiration, metadata = row
            if expiration is not None and expiration <= self._now_ms():
                self._purge_one(conn, key, blob_id)
                return None
            try:
                value = (self.blobs_dir / blob_id).read_bytes()
            except FileNotFoundError:
                return None  # as miniflare: a row whose file is gone reads as missing
            except OSError as exc:
                raise fsutil.os_error(exc, self.blobs_dir / blob_id, "read") from None
        return Entry(
            key=key,
            value=value,
            expiration=None if expiration is None else expiration // 1000,
            metadata=None if metadata is None else json.loads(metadata),
        )

    def list(
        self, prefix: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """Live keys in key order. `limit=None` returns every match; otherwise 1–1000 and a cursor."""
        check_list_args(prefix, limit)
        prefix = prefix or ""
        start_after = _decode_cursor(cursor) if cursor else ""
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return Page(keys=())
            now = self._now_ms()
            sql = (
                "SELECT key, expiration, metadata FROM _mf_entries"
                " WHERE key > ? AND substr(key, 1, length(?)) = ?"
                " AND (expiration IS NULL OR expiration > ?) ORDER BY key"
            )
            params: list[Any] = [start_after, prefix, prefix, now]
            if prefix:
                # The range lets SQLite use the primary key instead of scanning every row.
                sql = sql.replace("WHERE key > ?", "WHERE key > ? AND key >= ?")
                params.insert(1, prefix)
            if limit is not None:
                sql += " LIMIT ?"
                params.append(limit + 1)
            try:
                rows = conn.execute(sql, params).fetchall()
                self._purge_expired(conn, now)
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(exc, self.index_path) from None
        next_cursor = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            next_cursor = base64.b64encode(rows[-1][0].encode("utf-8")).decode("ascii")
        keys = tuple(
            KeyInfo(
                name=key,
                expiration=None if exp is None else exp // 1000,
                metadata=None if meta is None else json.loads(meta),
            )
            for key, exp, meta in rows
        )
        return Page(keys=keys, cursor=next_cursor)

    def count(self) -> int:
        """How many live keys the namespace holds."""
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            try:
                (n,) = conn.execute(
                    "SELECT count(*) FROM _mf_entries WHERE expiration IS NULL OR expiration > ?",
                    (self._now_ms(),),
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(exc, self.index_path) from None
        return int(n)

    # -- writes --

    def put(
        self,
        key: str,
        value: bytes,
        *,
        expiration_ttl: int | None = None,
        expiration: int | None = None,
        metadata: Any = None,
    ) -> int | None:
        """Write one value (validated against Cloudflare's limits first; nothing is written on error).

        Returns the absolute expiration written, in seconds since the epoch (None: never).
        """
        item = PutItem(
            key, value, expiration_ttl=expiration_ttl, expiration=expiration, metadata=metadata
        )
        row = validate_item(item, self._clock())
        self._put_rows([row], None)
        return None if row.expiration_ms is None else row.expiration_ms // 1000

    def put_many(
        self, items: Iterable[PutItem], progress: Callable[[int], None] | None = None
    ) -> int:
        """Validate every item, then write them all in one transaction. Returns the count written.

        A later item with the same key as an earlier one wins, as if written in order.
        """
        rows = latest_rows(items, self._clock())
        if not rows:
            return 0
        self._put_rows(rows, progress)
        return len(rows)

    def _put_rows(self, rows: Sequence[Row], progress: Callable[[int], None] | None) -> None:
        with self._lock:
            conn = self._connect(create=True)
            assert conn is not None
            self._collect_once(conn)
            with self.blobs.writing():
                # Values first, each under a fresh unguessable name nothing refers to yet: a
                # crash here leaves only orphans, never a row pointing at a partial file.
                written = self.blobs.write(rows, progress)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        replaced = self._blob_ids(conn, [r.key for r in rows])
                        conn.executemany(
                            "INSERT OR REPLACE INTO _mf_entries"
                            " (key, blob_id, expiration, metadata) VALUES (?, ?, ?, ?)",
                            (
                                (r.key, b, r.expiration_ms, r.metadata)
                                for r, b in zip(rows, written, strict=True)
                            ),
                        )
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                except BaseException as exc:
                    self.blobs.unlink(written)
                    if isinstance(exc, sqlite3.DatabaseError):
                        raise _sqlite_error(exc, self.index_path) from None
                    raise
        # Only after the commit is the old value unreachable, so only now may its file go.
        self.blobs.unlink(replaced)

    def delete(self, key: str) -> bool:
        """Delete `key`; True if a live entry was there."""
        validate_key(key)
        return self.delete_many([key]) > 0

    def delete_many(
        self, keys: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> int:
        """Delete every key in one transaction; returns how many live entries went."""
        for key in keys:
            validate_key(key)
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            now = self._now_ms()
            removed: list[str] = []
            live = 0
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for start in range(0, len(keys), _SQL_CHUNK):
                        chunk = list(dict.fromkeys(keys[start : start + _SQL_CHUNK]))
                        marks = ",".join("?" * len(chunk))
                        found = conn.execute(
                            f"DELETE FROM _mf_entries WHERE key IN ({marks}) RETURNING blob_id, expiration",
                            chunk,
                        ).fetchall()
                        removed.extend(b for b, _ in found)
                        live += sum(1 for _, e in found if e is None or e > now)
                        if progress is not None:
                            progress(len(keys[start : start + _SQL_CHUNK]))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(exc, self.index_path) from None
        self.blobs.unlink(removed)
        return live

    def gc(self, grace_seconds: float = GC_GRACE_SECONDS, *, wait: bool = True) -> int:
        """Remove value files no row refers to (left by a crash); returns how many went.

        Waits for worktime writes in flight (their lock) so it never removes a file whose row
        is about to commit; files younger than `grace_seconds` are spared for writers that
        take no lock (wrangler dev). With `wait=False` a busy namespace is skipped (0).
        """
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            return self._collect(conn, grace_seconds, wait=wait)

    # -- internals --

    def _collect_once(self, conn: sqlite3.Connection) -> None:
        if not self._collected:
            self._collected = True
            self._collect(conn, GC_GRACE_SECONDS, wait=False)

    def _collect(self, conn: sqlite3.Connection, grace_seconds: float, *, wait: bool) -> int:
        return self.blobs.collect(lambda: self._referenced(conn), grace_seconds, wait=wait)

    def _referenced(self, conn: sqlite3.Connection) -> set[str]:
        """Every blob id a row points at: the value files gc must keep."""
        try:
            return {b for (b,) in conn.execute("SELECT blob_id FROM _mf_entries")}
        except sqlite3.DatabaseError as exc:
            raise _sqlite_error(exc, self.index_path) from None

    def _blob_ids(self, conn: sqlite3.Connection, keys: Sequence[str]) -> Sequence[str]:
        found: list[str] = []
        for start in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.extend(
                b
                for (b,) in conn.execute(
                    f"SELECT blob_id FROM _mf_entries WHERE key IN ({marks})", chunk
                )
            )
        return found

    def _purge_one(self, conn: sqlite3.Connection, key: str, blob_id: str) -> None:
        try:
            # Only the row we saw: a concurrent put may have replaced it with a live one.
            conn.execute("DELETE FROM _mf_entries WHERE key = ? AND blob_id = ?", (key, blob_id))
        except sqlite3.OperationalError:
            return  # purging is housekeeping; a locked store just keeps the row until next time
        self.blobs.unlink([blob_id])

    def _purge_expired(self, conn: sqlite3.Connection, now_ms: int) -> None:
        # Look before taking the write lock: a list must not wait on a busy writer for nothing.
        if (
            conn.execute(
                "SELECT 1 FROM _mf_entries WHERE expiration <= ? LIMIT 1", (now_ms,)
            ).fetchone()
            is None
        ):
            return
        try:
            gone = conn.execute(
                "DELETE FROM _mf_entries WHERE expiration <= ? RETURNING blob_id", (now_ms,)
            ).fetchall()
        except sqlite3.OperationalError:
            return
        self.blobs.unlink([b for (b,) in gone])


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise WorktimeError(
            f"invalid cursor {cursor!r}", hint="pass the cursor a previous `kv key list` printed"
        ) from None


def _sqlite_error(exc: sqlite3.DatabaseError, path: Path) -> WorktimeError:
    # By the primary result code, never by words in the message: a table or key named
    # "unlocked_items" must not read as a lock (issue 10).
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return LockedError(
            f"the KV store {path.name} is locked by another process",
            hint="wait for the other write (wrangler dev or worktime) to finish, then retry",
        )
    return storage_error(exc, path, what="KV index") or WorktimeError(f"KV store {path}: {exc}")
