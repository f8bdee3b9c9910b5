"""Local Workers KV, stored exactly as wrangler 4 / miniflare store it.

Layout (checked against wrangler 4.86's own files):

- index: `<state>/v3/kv/miniflare-KVNamespaceObject/<do id>.sqlite`, one table `_mf_entries`
  (key, blob_id, expiration in **milliseconds**, metadata as JSON text), WAL journal;
- values: `<state>/v3/kv/<namespace id>/blobs/<blob id>`, one file per value, where the blob
  id is 32 random bytes + the 8-byte big-endian millisecond clock, in hex (80 chars).

Crash safety: a value's file is written and synced *before* the row that points at it is
committed, and a replaced value's file is deleted only *after* the commit. So a crash at any
point leaves the old row (with its old, untouched file) or the new row (with its complete new
file); the worst case is an orphaned file, which `gc()` removes (each store does so on its
first write, for orphans older than `GC_GRACE_SECONDS`).

Cleanup never races a write (issue 13): a worktime write holds a shared `flock` on
`<state>/v3/kv/<id>/.worktime-writers.lock` from before its first value file until after its
commit, and gc takes it exclusively, so gc sees either no file of that write or its committed
row. Writers that do not take the lock (wrangler dev) write one small value at a time, and
files younger than the grace period (`fsutil.GRACE_SECONDS`, the one rule of every cleanup)
are spared for them, by the manual gc too.

Value files are made durable with an fsync of each file (issued in parallel, so the file
system batches them into few journal commits) and one of their folder, never a machine-wide
`sync()` whose time depends on other processes' dirty data.

Threads: a `KVStore` may be shared between threads (the dev server does): it holds one
SQLite connection opened with `check_same_thread=False`, and every operation runs under the
store's lock. Other processes (wrangler dev, another worktime) are coordinated by SQLite's
own locking; a store that stays locked longer than the busy timeout raises `LockedError`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from worktime_cli import clock as worktime_clock
from worktime_cli import fsutil
from worktime_cli.errors import LockedError, WorktimeError
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

# Orphaned value files younger than this may belong to a put that is still in flight in
# another process (wrangler dev writes the file before its row too), so automatic GC spares them.
GC_GRACE_SECONDS = fsutil.GRACE_SECONDS
BUSY_TIMEOUT_SECONDS = 10.0
_WRITERS_LOCK = ".worktime-writers.lock"

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
_BLOB_ID = re.compile(r"[0-9a-f]{80}")
# Value files fsynced together: enough for the file system to batch their journal commits,
# few enough open descriptors for any `ulimit -n`.
_FSYNC_BATCH = 256
_FSYNC_THREADS = 8
_SQL_CHUNK = 500


def blob_dir_name(namespace_id: str) -> str:
    """miniflare's `sanitisePath` of the namespace id: the name of its blob folder."""
    name = namespace_id
    dots = re.compile(r"(^|/|\\)(\.+)(/|\\|$)")
    for _ in range(2):
        name = dots.sub(lambda m: m.group(1) + "_" * len(m.group(2)) + m.group(3), name)
    name = re.sub(r"[?<>*\"'^/\\:|\x00-\x1f\x80-\x9f]", "_", name)
    name = re.sub(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", "_", name, flags=re.IGNORECASE)
    name = re.sub(r"^[ /\\]+", lambda m: "_" * len(m.group(0)), name)
    name = re.sub(r"[ /\\]+$", lambda m: "_" * len(m.group(0)), name)
    return name[:255]


def new_blob_id(now: float | None = None) -> str:
    """32 random bytes + the big-endian 8-byte millisecond clock, hex (miniflare's format)."""
    millis = int((worktime_clock.timestamp() if now is None else now) * 1000)
    return os.urandom(32).hex() + millis.to_bytes(8, "big", signed=True).hex()


def _blob_millis(blob_id: str) -> int:
    return int.from_bytes(bytes.fromhex(blob_id[64:]), "big", signed=True)


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
        self.blobs_dir = state.kv_blobs_dir(state_root, blob_dir_name(namespace_id))
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
            with self._writing():
                # Values first, each under a fresh unguessable name nothing refers to yet: a
                # crash here leaves only orphans, never a row pointing at a partial file.
                written = self._write_blobs(rows, progress)
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
                    self._unlink_blobs(written)
                    if isinstance(exc, sqlite3.DatabaseError):
                        raise _sqlite_error(exc, self.index_path) from None
                    raise
        # Only after the commit is the old value unreachable, so only now may its file go.
        self._unlink_blobs(replaced)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writers' lock shared: gc waits until this write's rows are committed."""
        fd = self._open_writers_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _open_writers_lock(self) -> int:
        path = self.blobs_dir.parent / _WRITERS_LOCK
        with fsutil.translated(path, "create"):
            self.blobs_dir.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

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
        self._unlink_blobs(removed)
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
        if not self.blobs_dir.is_dir():
            return 0
        fd = self._open_writers_lock()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return 0  # another write is in flight: its files are not orphans yet
            return self._collect_locked(conn, grace_seconds)
        finally:
            os.close(fd)

    def _collect_locked(self, conn: sqlite3.Connection, grace_seconds: float) -> int:
        try:
            names = [e.name for e in os.scandir(self.blobs_dir) if _BLOB_ID.fullmatch(e.name)]
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise fsutil.os_error(exc, self.blobs_dir, "read") from None
        if not names:
            return 0
        cutoff = self._now_ms() - int(grace_seconds * 1000)
        candidates = [n for n in names if _blob_millis(n) <= cutoff]
        if not candidates:
            return 0
        try:
            referenced = {b for (b,) in conn.execute("SELECT blob_id FROM _mf_entries")}
        except sqlite3.DatabaseError as exc:
            raise _sqlite_error(exc, self.index_path) from None
        orphans = [n for n in candidates if n not in referenced]
        self._unlink_blobs(orphans)
        return len(orphans)

    def _write_blobs(
        self, rows: Sequence[Row], progress: Callable[[int], None] | None
    ) -> Sequence[str]:
        """Write each value to a new file, fsync them in batches, then fsync their folder."""
        from concurrent.futures import ThreadPoolExecutor

        ids: list[str] = []
        reported = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        current = self.blobs_dir
        pool = ThreadPoolExecutor(_FSYNC_THREADS) if len(rows) > 1 else None
        try:
            with fsutil.translated(current, "create"):
                self.blobs_dir.mkdir(parents=True, exist_ok=True)
            dir_fd = os.open(self.blobs_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for start in range(0, len(rows), _FSYNC_BATCH):
                    fds: list[int] = []
                    try:
                        for n, row in enumerate(rows[start : start + _FSYNC_BATCH], start + 1):
                            blob_id = new_blob_id(self._clock())
                            current = self.blobs_dir / blob_id
                            # 0600: values are GitHub tokens; wrangler dev runs as the same user.
                            fd = os.open(blob_id, flags, 0o600, dir_fd=dir_fd)
                            ids.append(blob_id)
                            fds.append(fd)
                            view = memoryview(row.value)
                            while view:
                                view = view[os.write(fd, view) :]
                            if progress is not None and (n % 256 == 0 or n == len(rows)):
                                progress(n - reported)  # batched: one update per value is slow
                                reported = n
                        current = self.blobs_dir
                        # Only what this write made: parallel fsyncs share journal commits.
                        if pool is None:
                            for fd in fds:
                                os.fsync(fd)
                        else:
                            list(pool.map(os.fsync, fds))
                    finally:
                        for fd in fds:
                            os.close(fd)
                os.fsync(dir_fd)  # the new names must be durable too, not just the bytes
            finally:
                os.close(dir_fd)
        except BaseException as exc:
            self._unlink_blobs(ids)
            if isinstance(exc, OSError):
                raise fsutil.os_error(exc, current) from None
            raise
        finally:
            if pool is not None:
                pool.shutdown()
        return ids

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
        self._unlink_blobs([blob_id])

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
        self._unlink_blobs([b for (b,) in gone])

    def _unlink_blobs(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.blobs_dir / blob_id)


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
