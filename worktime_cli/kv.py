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
import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from worktime_cli import state
from worktime_cli.config import Config, KVBinding, append_table, remove_table
from worktime_cli.errors import (
    ConfigError,
    LimitError,
    LockedError,
    NotFoundError,
    WorktimeError,
)

# Cloudflare's documented limits (miniflare enforces the same numbers).
MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL_SECONDS = 60
MAX_LIST_LIMIT = 1000
BULK_MAX_ERRORS = 12  # wrangler reports this many bad items, then "..."

# Orphaned value files younger than this may belong to a put that is still in flight in
# another process (wrangler dev writes the file before its row too), so automatic GC spares them.
GC_GRACE_SECONDS = 60
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
_BLOB_ID = re.compile(r"[0-9a-f]{80}")
# Above this many values, one filesystem-wide sync beats an fsync per file by far.
_FSYNC_EACH_MAX = 32
_SQL_CHUNK = 500


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A live value: raw bytes, expiration in seconds since the epoch, metadata as parsed JSON."""

    key: str
    value: bytes
    expiration: int | None = None
    metadata: Any = None

    def to_json(self) -> dict[str, Any]:
        """The value as text when it is UTF-8, else base64 with `"base64": true` (bulk's format)."""
        try:
            text, is_base64 = self.value.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(self.value).decode("ascii"), True
        return {
            "key": self.key,
            "value": text,
            "base64": is_base64,
            "expiration": self.expiration,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class KeyInfo:
    """One key as `list` reports it (the API's shape: expiration in seconds)."""

    name: str
    expiration: int | None = None
    metadata: Any = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.expiration is not None:
            data["expiration"] = self.expiration
        if self.metadata is not None:
            data["metadata"] = self.metadata
        return data


@dataclass(frozen=True)
class Page:
    """One page of `list`; `cursor` is set when more keys follow."""

    keys: tuple[KeyInfo, ...]
    cursor: str | None = None

    @property
    def list_complete(self) -> bool:
        return self.cursor is None

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": [k.to_json() for k in self.keys],
            "list_complete": self.list_complete,
            "cursor": self.cursor,
        }


@dataclass(frozen=True)
class PutItem:
    """One value to write. `expiration_ttl` wins over `expiration` when both are given."""

    key: str
    value: bytes
    expiration_ttl: int | None = None
    expiration: int | None = None
    metadata: Any = None


@dataclass(frozen=True)
class BulkPut:
    """A parsed and validated `bulk put` file, plus wrangler-style warnings."""

    items: tuple[PutItem, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class NamespaceInfo:
    """One namespace as `namespace list` shows it: from wrangler.toml locally, the account remotely.

    The JSON has every key both ways (null where a side does not know it): locally there is
    no title, remotely no local file or key count.
    """

    binding: str | None
    id: str | None
    preview_id: str | None = None
    local_id: str | None = None
    path: Path | None = None
    exists: bool | None = None
    keys: int | None = None
    title: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "id": self.id,
            "title": self.title,
            "preview_id": self.preview_id,
            "local_id": self.local_id,
            "path": None if self.path is None else str(self.path),
            "exists": self.exists,
            "keys": self.keys,
        }


@dataclass(frozen=True)
class NamespaceList:
    """`kv namespace list`: the configured namespaces (local) or the account's (remote)."""

    namespaces: tuple[NamespaceInfo, ...]
    remote: bool = False

    def to_json(self) -> list[dict[str, Any]]:
        return [ns.to_json() for ns in self.namespaces]

    @property
    def empty_note(self) -> str:
        if self.remote:
            return "no KV namespaces on this account"
        return "no KV namespaces configured; create one with `worktime kv namespace create KV`"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Columns and rows for people: what each side knows."""
        if self.remote:
            return ["title", "id", "binding"], [
                [ns.title, ns.id, ns.binding] for ns in self.namespaces
            ]
        return ["binding", "id", "local keys"], [
            [ns.binding, ns.local_id, ns.keys if ns.exists else "no local data"]
            for ns in self.namespaces
        ]


@dataclass(frozen=True)
class CreatedNamespace:
    """`kv namespace create`: the binding and the id wrangler.toml now gives it.

    Locally the id is new and random; remotely it is Cloudflare's, `title` is the namespace's
    title there, and `preview_id` keeps the binding's old local id (so local data stays found).
    """

    binding: str
    id: str
    config_name: str
    title: str | None = None
    preview_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "id": self.id,
            "title": self.title,
            "preview_id": self.preview_id,
        }

    def summary(self) -> str:
        if self.title is None:
            return f"created KV namespace {self.binding} (id {self.id}) in {self.config_name}"
        return (
            f"created KV namespace {self.title} on Cloudflare (id {self.id}); "
            f"{self.binding} in {self.config_name} now uses it"
        )


@dataclass(frozen=True)
class DeletedNamespace:
    """`kv namespace delete`: what went (local data and the config entry, or the remote namespace)."""

    namespace: str
    id: str
    remote: bool = False
    local_data: bool | None = None
    removed_from: str | None = None  # the config file the entry was removed from

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "id": self.id,
            "remote": self.remote,
            "local_data": self.local_data,
            "removed_from_config": self.removed_from is not None,
        }

    def summary(self) -> str:
        if self.remote:
            return f"deleted the remote KV namespace {self.namespace} ({self.id})"
        note = "its local data" if self.local_data else "no local data"
        where = f" and removed it from {self.removed_from}" if self.removed_from else ""
        return f"deleted KV namespace {self.namespace} ({note}){where}"


@dataclass(frozen=True)
class PutResult:
    """One value written: its size and absolute expiration (seconds since the epoch)."""

    key: str
    size: int
    expiration: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "expiration": self.expiration}


@dataclass(frozen=True)
class DeleteResult:
    """One key deleted; `existed` says whether a live value was there."""

    key: str
    existed: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "deleted": self.existed}


@dataclass(frozen=True)
class BulkResult:
    """`bulk put` (`written`) or `bulk delete` (`deleted`): how many, of how many requested."""

    action: Literal["written", "deleted"]
    count: int
    requested: int

    def to_json(self) -> dict[str, Any]:
        return {self.action: self.count, "requested": self.requested}


@dataclass(frozen=True)
class GCResult:
    """`namespace gc`: how many orphaned value files were removed."""

    removed: int

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.removed}


@dataclass(frozen=True)
class _Row:
    key: str
    value: bytes
    expiration_ms: int | None
    metadata: str | None
    blob_id: str = field(default="")


# --- validation ------------------------------------------------------------------------------


def validate_key(key: str) -> None:
    """Cloudflare's key rules: 1–512 UTF-8 bytes, and not `.` or `..`."""
    if key == "":
        raise LimitError("key names must not be empty")
    if key in (".", ".."):
        raise LimitError(f"illegal key name {key!r}: `.` and `..` are not allowed")
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise LimitError(f"key is {size} bytes (UTF-8); the limit is {MAX_KEY_BYTES} bytes")


def encode_metadata(metadata: Any) -> str | None:
    """Metadata as the JSON text miniflare stores (compact, like JSON.stringify), size-checked."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise LimitError("metadata must be a JSON object")
    try:
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LimitError(f"metadata is not serialisable as JSON: {exc}") from None
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise LimitError(
            f"metadata is {size} bytes serialised; the limit is {MAX_METADATA_BYTES} bytes"
        )
    return text


def resolve_expiration(
    expiration_ttl: int | None, expiration: int | None, now: float
) -> int | None:
    """The absolute expiration in seconds, as miniflare computes it (the TTL wins)."""
    now_s = math.floor(now)
    if expiration_ttl is not None:
        if isinstance(expiration_ttl, bool) or not isinstance(expiration_ttl, int):
            raise LimitError(f"TTL {expiration_ttl!r} is not an integer number of seconds")
        if expiration_ttl < MIN_TTL_SECONDS:
            raise LimitError(
                f"TTL of {expiration_ttl} seconds is below the minimum of {MIN_TTL_SECONDS} seconds"
            )
        return now_s + expiration_ttl
    if expiration is not None:
        if isinstance(expiration, bool) or not isinstance(expiration, int):
            raise LimitError(
                f"expiration {expiration!r} is not an integer (seconds since the epoch)"
            )
        if expiration < now_s + MIN_TTL_SECONDS:
            raise LimitError(
                f"expiration {expiration} must be at least {MIN_TTL_SECONDS} seconds in the future "
                f"(now is {now_s})"
            )
        return expiration
    return None


def check_list_args(prefix: str | None, limit: int | None) -> None:
    """The limits of one `list` call, the same locally and on Cloudflare."""
    if limit is not None and not 1 <= limit <= MAX_LIST_LIMIT:
        raise LimitError(f"list limit {limit} is outside 1–{MAX_LIST_LIMIT}")
    if prefix and len(prefix.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise LimitError(f"prefix is longer than the key limit of {MAX_KEY_BYTES} bytes")


def latest_rows(items: Iterable[PutItem], now: float) -> list[_Row]:
    """Every item validated; a later item with the same key wins, in the order of its write."""
    latest: dict[str, _Row] = {}
    for item in items:
        row = validate_item(item, now)
        latest.pop(row.key, None)  # keep the order of the last write
        latest[row.key] = row
    return list(latest.values())


def validate_item(item: PutItem, now: float) -> _Row:
    """Check one item against every limit; raises `LimitError` naming the limit broken."""
    validate_key(item.key)
    if len(item.value) > MAX_VALUE_BYTES:
        raise LimitError(
            f"value is {len(item.value)} bytes; the limit is {MAX_VALUE_BYTES} bytes (25 MiB)"
        )
    expiration = resolve_expiration(item.expiration_ttl, item.expiration, now)
    return _Row(
        key=item.key,
        value=item.value,
        expiration_ms=None if expiration is None else expiration * 1000,
        metadata=encode_metadata(item.metadata),
    )


# --- the store -------------------------------------------------------------------------------


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
    millis = int((time.time() if now is None else now) * 1000)
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
        clock: Callable[[], float] = time.time,
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
        return self.index_path.is_file()

    def create(self) -> None:
        """Create the (empty) index and value folder now rather than on the first write.

        `worktime init` uses this so a new project's namespace exists on disk, as wrangler
        dev would leave it after its first request.
        """
        with self._lock:
            self._connect(create=True)
        self.blobs_dir.mkdir(parents=True, exist_ok=True)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The connection, opened on first use; `None` when reading a store never written."""
        if self._conn is not None:
            return self._conn
        if not create and not self.index_path.is_file():
            return None
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
        except sqlite3.OperationalError as exc:
            raise _sqlite_error(exc, self.index_path) from None
        except sqlite3.DatabaseError as exc:
            raise WorktimeError(
                f"{self.index_path} is not a usable KV index: {exc}",
                hint="move it aside; wrangler would not be able to read it either",
            ) from None
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
            except sqlite3.OperationalError as exc:
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
            except sqlite3.OperationalError as exc:
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
            except sqlite3.OperationalError as exc:
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

    def _put_rows(self, rows: Sequence[_Row], progress: Callable[[int], None] | None) -> None:
        with self._lock:
            conn = self._connect(create=True)
            assert conn is not None
            self._collect_once(conn)
            # Values first, each under a fresh unguessable name nothing refers to yet: a crash
            # here leaves only orphans, never a row pointing at a partial file.
            written = self._write_blobs(rows, progress)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    replaced = self._blob_ids(conn, [r.key for r in rows])
                    conn.executemany(
                        "INSERT OR REPLACE INTO _mf_entries (key, blob_id, expiration, metadata)"
                        " VALUES (?, ?, ?, ?)",
                        (
                            (r.key, b, r.expiration_ms, r.metadata)
                            for r, b in zip(rows, written, strict=True)
                        ),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except BaseException as exc:
                self._unlink_blobs(written)
                if isinstance(exc, sqlite3.OperationalError):
                    raise _sqlite_error(exc, self.index_path) from None
                raise
        # Only after the commit is the old value unreachable, so only now may its file go.
        self._unlink_blobs(replaced)

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
            except sqlite3.OperationalError as exc:
                raise _sqlite_error(exc, self.index_path) from None
        self._unlink_blobs(removed)
        return live

    def gc(self, grace_seconds: float = GC_GRACE_SECONDS) -> int:
        """Remove value files no row refers to (left by a crash); returns how many went.

        Files younger than `grace_seconds` are spared: another process may have written one
        and not yet committed its row.
        """
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            return self._collect(conn, grace_seconds)

    # -- internals --

    def _collect_once(self, conn: sqlite3.Connection) -> None:
        if not self._collected:
            self._collected = True
            self._collect(conn, GC_GRACE_SECONDS)

    def _collect(self, conn: sqlite3.Connection, grace_seconds: float) -> int:
        try:
            names = [e.name for e in os.scandir(self.blobs_dir) if _BLOB_ID.fullmatch(e.name)]
        except FileNotFoundError:
            return 0
        if not names:
            return 0
        cutoff = self._now_ms() - int(grace_seconds * 1000)
        candidates = [n for n in names if _blob_millis(n) <= cutoff]
        if not candidates:
            return 0
        try:
            referenced = {b for (b,) in conn.execute("SELECT blob_id FROM _mf_entries")}
        except sqlite3.OperationalError as exc:
            raise _sqlite_error(exc, self.index_path) from None
        orphans = [n for n in candidates if n not in referenced]
        self._unlink_blobs(orphans)
        return len(orphans)

    def _write_blobs(
        self, rows: Sequence[_Row], progress: Callable[[int], None] | None
    ) -> Sequence[str]:
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        ids: list[str] = []
        dir_fd = os.open(self.blobs_dir, os.O_RDONLY | os.O_DIRECTORY)
        each = len(rows) <= _FSYNC_EACH_MAX
        reported = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            for n, row in enumerate(rows, 1):
                blob_id = new_blob_id(self._clock())
                # 0600: values are GitHub tokens; wrangler dev runs as the same user anyway.
                fd = os.open(blob_id, flags, 0o600, dir_fd=dir_fd)
                ids.append(blob_id)
                try:
                    view = memoryview(row.value)
                    while view:
                        view = view[os.write(fd, view) :]
                    if each:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                if progress is not None and (n % 256 == 0 or n == len(rows)):
                    progress(n - reported)  # batched: a progress update per value is slow
                    reported = n
            if each:
                os.fsync(dir_fd)  # the new names must be durable too, not just the bytes
            else:
                # One sync for thousands of files: an fsync each costs ~0.5 ms apiece.
                os.sync()
        except BaseException:
            self._unlink_blobs(ids)
            raise
        finally:
            os.close(dir_fd)
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


def _sqlite_error(exc: sqlite3.OperationalError, path: Path) -> WorktimeError:
    # By the primary result code, never by words in the message: a table or key named
    # "unlocked_items" must not read as a lock (issue 10).
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return LockedError(
            f"the KV store {path.name} is locked by another process",
            hint="wait for the other write (wrangler dev or worktime) to finish, then retry",
        )
    return WorktimeError(f"KV store {path}: {exc}")


# --- bulk files (wrangler's format) -----------------------------------------------------------

_BULK_PUT_KEYS = frozenset({"key", "value", "expiration", "expiration_ttl", "metadata", "base64"})


def _load_json_file(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise WorktimeError(f"{path} not found") from None
    except OSError as exc:
        raise WorktimeError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorktimeError(f"{path} is not valid JSON: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> int | None:
    """A JSON number as whole seconds (wrangler passes `3600.0` through as 3600)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # type: ignore[no-any-return]  # validation reports the non-integer


def parse_bulk_put(path: Path, now: float | None = None) -> BulkPut:
    """Read and validate a `bulk put` file; every bad item is reported before anything is written."""
    content = _load_json_file(path)
    if not isinstance(content, list):
        raise WorktimeError(
            f"{path}: expected a JSON array of key-value objects, got {type(content).__name__}",
            hint='each item: {"key": str, "value": str, "expiration"?: int, "expiration_ttl"?: int, "metadata"?: object, "base64"?: bool}',
        )
    now = time.time() if now is None else now
    errors: list[str] = []
    warnings: list[str] = []
    items: list[PutItem] = []
    for index, raw in enumerate(content):
        problem: str | None = None
        item: PutItem | None = None
        if not (
            isinstance(raw, dict)
            and isinstance(raw.get("key"), str)
            and isinstance(raw.get("value"), str)
            and (raw.get("expiration") is None or _is_number(raw["expiration"]))
            and (raw.get("expiration_ttl") is None or _is_number(raw["expiration_ttl"]))
            and (raw.get("base64") is None or isinstance(raw["base64"], bool))
            and (raw.get("metadata") is None or isinstance(raw["metadata"], dict))
        ):
            shown = json.dumps(raw, ensure_ascii=False)
            problem = f"is {shown[:200]}{'…' if len(shown) > 200 else ''}"
        else:
            unexpected = sorted(set(raw) - _BULK_PUT_KEYS)
            if unexpected and len(warnings) <= BULK_MAX_ERRORS:
                warnings.append(
                    "..."
                    if len(warnings) == BULK_MAX_ERRORS
                    else f"the item at index {index} contains unexpected properties: {json.dumps(unexpected)}"
                )
            try:
                value = (
                    base64.b64decode(raw["value"], validate=True)
                    if raw.get("base64")
                    else raw["value"].encode("utf-8", "surrogatepass")
                )
                item = PutItem(
                    key=raw["key"],
                    value=value,
                    expiration_ttl=_whole(raw.get("expiration_ttl")),
                    expiration=_whole(raw.get("expiration")),
                    metadata=raw.get("metadata"),
                )
                validate_item(item, now)
            except binascii.Error:
                problem = f"(key {raw['key'][:60]!r}): value is not valid base64"
            except LimitError as exc:
                problem = f"(key {raw['key'][:60]!r}): {exc.message}"
        if problem is not None:
            if len(errors) < BULK_MAX_ERRORS:
                errors.append(f"the item at index {index} {problem}")
            elif len(errors) == BULK_MAX_ERRORS:
                errors.append("...")
            continue
        assert item is not None
        items.append(item)
    if errors:
        bad = sum(1 for e in errors if e != "...")
        more = " (first 12 shown)" if errors[-1] == "..." else ""
        raise LimitError(
            f"{path}: invalid item(s){more}, nothing written:\n  " + "\n  ".join(errors),
            hint=f"fix the {bad if not more else 'listed'} item(s) above; each item needs a string key and value",
        )
    return BulkPut(items=tuple(items), warnings=tuple(warnings))


def parse_bulk_delete(path: Path) -> list[str]:
    """Read a `bulk delete` file: a JSON array of key strings or `{"name": key}` objects."""
    content = _load_json_file(path)
    if not isinstance(content, list):
        raise WorktimeError(
            f'{path}: expected a JSON array of key names or {{"name": key}} objects, '
            f"got {type(content).__name__}"
        )
    errors: list[str] = []
    keys: list[str] = []
    for index, item in enumerate(content):
        key = item.get("name") if isinstance(item, dict) else item
        problem = None
        if not isinstance(key, str):
            problem = f"is {json.dumps(item)[:200]}"
        else:
            try:
                validate_key(key)
            except LimitError as exc:
                problem = f"(key {key[:60]!r}): {exc.message}"
        if problem is not None:
            if len(errors) < BULK_MAX_ERRORS:
                errors.append(f"the item at index {index} {problem}")
            elif len(errors) == BULK_MAX_ERRORS:
                errors.append("...")
            continue
        assert isinstance(key, str)
        keys.append(key)
    if errors:
        raise LimitError(
            f"{path}: invalid item(s), nothing deleted:\n  " + "\n  ".join(errors),
            hint='each item must be a key string or an object like {"name": "key"}',
        )
    return keys


# --- namespaces ------------------------------------------------------------------------------

_BINDING = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def check_new_binding(cfg: Config, binding: str, *, kv_taken: bool) -> None:
    """A binding name a new namespace may take; `kv_taken`: an existing KV binding counts too.

    Remotely an existing KV binding is fine (its id is replaced by Cloudflare's), locally it
    is not; a D1 binding of that name is refused on both sides.
    """
    if not _BINDING.fullmatch(binding):
        raise ConfigError(
            f"{binding!r} is not a valid binding name",
            hint="use letters, digits and underscores, not starting with a digit (e.g. KV)",
        )
    taken = {db.binding for db in cfg.d1_databases}
    if kv_taken:
        taken |= {ns.binding for ns in cfg.kv_namespaces}
    if binding in taken:
        raise ConfigError(
            f"binding {binding!r} already exists in {cfg.path.name}",
            hint="choose another binding name, or use the existing namespace",
        )


def select_binding(cfg: Config, binding_or_id: str, *, by_id: bool = False) -> KVBinding:
    """The namespace a command names, the same rule locally and remotely.

    A configured binding, else a configured id or preview_id. With `by_id` (`--namespace-id`)
    an unconfigured id is used as it is, as wrangler does; otherwise an unknown name is an
    error that lists the configured bindings.
    """
    if by_id:
        return cfg.kv(namespace_id=binding_or_id)
    for ns in cfg.kv_namespaces:
        if ns.binding == binding_or_id:
            return ns
    for ns in cfg.kv_namespaces:
        if binding_or_id in (ns.id, ns.preview_id):
            return ns
    raise unknown_binding(cfg, binding_or_id)


def unknown_binding(cfg: Config, name: str) -> NotFoundError:
    """An unknown binding: "did you mean …?" with the configured names, never "create it"."""
    import difflib

    names = [ns.binding for ns in cfg.kv_namespaces]
    configured = ", ".join(names) or "none"
    message = f"KV binding {name!r} is not configured in {cfg.path.name} (configured: {configured})"
    if not names:
        return NotFoundError(
            message,
            hint=f"add one with `worktime kv namespace create {name}`, or pass --namespace-id",
        )
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5) or [
        n for n in names if n.lower() == name.lower()
    ]
    shown = " or ".join(repr(n) for n in (close or names))
    return NotFoundError(message, hint=f"did you mean {shown}?")


def create_namespace(cfg: Config, binding: str) -> tuple[Config, KVBinding]:
    """Add `[[kv_namespaces]] binding = … id = <new 32-hex id>` to wrangler.toml.

    The local store itself is created by the first write (as miniflare does).
    """
    check_new_binding(cfg, binding, kv_taken=True)
    namespace_id = uuid.uuid4().hex
    new_cfg = append_table(cfg.path, "kv_namespaces", {"binding": binding, "id": namespace_id})
    return new_cfg, new_cfg.kv(binding=binding)


def describe_namespaces(cfg: Config, state_root: Path) -> list[NamespaceInfo]:
    """Every configured namespace with its local index file and live key count."""
    infos = []
    for ns in cfg.kv_namespaces:
        with KVStore(state_root, ns.local_id) as store:
            infos.append(
                NamespaceInfo(
                    binding=ns.binding,
                    id=ns.id,
                    preview_id=ns.preview_id,
                    local_id=ns.local_id,
                    path=store.index_path,
                    exists=store.exists,
                    keys=store.count(),
                )
            )
    return infos


def delete_namespace(cfg: Config, ns: KVBinding, state_root: Path) -> tuple[Config, bool]:
    """Delete a namespace's local data, then its `[[kv_namespaces]]` entry if it has one.

    Returns the new config and whether there was local data. Data goes first: if editing
    wrangler.toml then fails, running the command again finishes the job.
    """
    import shutil

    store = KVStore(state_root, ns.local_id)
    existed = store.exists or store.blobs_dir.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{store.index_path}{suffix}").unlink(missing_ok=True)
    folder = store.blobs_dir.parent  # v3/kv/<id>: KVStore refuses ids that would be anything else
    assert folder.parent == state_root / "v3" / "kv" and folder.name != state.KV_UNIQUE_KEY
    shutil.rmtree(folder, ignore_errors=True)
    configured = any(n.binding == ns.binding for n in cfg.kv_namespaces)
    if configured:
        cfg = remove_table(cfg.path, "kv_namespaces", {"binding": ns.binding})
    return cfg, existed


# --- the local target (the `KVNamespaces` / `KVNamespace` protocols of `targets.kv`) --------


class LocalNamespace:
    """One local namespace: a `KVStore` in the files `wrangler dev` reads."""

    where = ""  # success lines name no place: local is the default

    def __init__(self, store: KVStore) -> None:
        self.store = store

    def __enter__(self) -> LocalNamespace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def get(self, key: str) -> Entry | None:
        return self.store.get(key)

    def put(
        self,
        key: str,
        value: bytes,
        *,
        expiration: int | None = None,
        expiration_ttl: int | None = None,
        metadata: Any = None,
    ) -> PutResult:
        written = self.store.put(
            key, value, expiration=expiration, expiration_ttl=expiration_ttl, metadata=metadata
        )
        return PutResult(key=key, size=len(value), expiration=written)

    def page(
        self, *, prefix: str | None = None, cursor: str | None = None, limit: int = MAX_LIST_LIMIT
    ) -> Page:
        return self.store.list(prefix=prefix, limit=limit, cursor=cursor)

    def delete(self, key: str) -> DeleteResult:
        return DeleteResult(key=key, existed=self.store.delete(key))

    def bulk_put(
        self, items: Iterable[PutItem], *, progress: Callable[[int], None] | None = None
    ) -> BulkResult:
        items = list(items)
        written = self.store.put_many(items, progress=progress)
        return BulkResult("written", written, len(items))

    def bulk_delete(
        self, keys: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> BulkResult:
        deleted = self.store.delete_many(keys, progress=progress)
        return BulkResult("deleted", deleted, len(keys))


class LocalKV:
    """The project's namespaces as wrangler.toml declares them, stored under the local state."""

    def __init__(self, config: Config, persist_to: Path | None = None) -> None:
        self.config = config
        self.state_root = state.root(config, persist_to)

    def describe(self, name: str) -> str:
        return f"KV namespace {name}"

    def list(self) -> NamespaceList:
        return NamespaceList(tuple(describe_namespaces(self.config, self.state_root)))

    def create(self, binding: str) -> CreatedNamespace:
        new_cfg, ns = create_namespace(self.config, binding)
        self.config = new_cfg
        assert ns.id is not None
        return CreatedNamespace(binding=ns.binding, id=ns.id, config_name=new_cfg.path.name)

    def delete(self, binding_or_id: str, *, by_id: bool = False) -> DeletedNamespace:
        ns = select_binding(self.config, binding_or_id, by_id=by_id)
        new_cfg, existed = delete_namespace(self.config, ns, self.state_root)
        removed = len(new_cfg.kv_namespaces) < len(self.config.kv_namespaces)
        name = self.config.path.name
        self.config = new_cfg
        return DeletedNamespace(
            namespace=ns.binding,
            id=ns.local_id,
            local_data=existed,
            removed_from=name if removed else None,
        )

    def namespace(self, binding_or_id: str, *, by_id: bool = False) -> LocalNamespace:
        ns = select_binding(self.config, binding_or_id, by_id=by_id)
        return LocalNamespace(KVStore(self.state_root, ns.local_id))

    def gc(self, binding_or_id: str, *, by_id: bool = False) -> GCResult:
        """Remove every orphaned value file now (no grace period): see `KVStore.gc`."""
        with self.namespace(binding_or_id, by_id=by_id) as ns:
            return GCResult(ns.store.gc(grace_seconds=0))
