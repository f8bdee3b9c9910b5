"""Remote KV bulk writes and deletes: items packed into the largest requests the API takes, sent
several in flight, and a report (or an error) naming every key that did not land.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from worktime_cli.errors import LimitError, RemoteError
from worktime_cli.kv import PutItem
from worktime_cli.remote.client import IN_FLIGHT, Client, in_flight
from worktime_cli.remote.kv.keys import MAX_KEY_BYTES, key_segment
from worktime_cli.remote.kv.namespaces import ns_path

# Cloudflare's published limits for one bulk request: up to 10,000 pairs, and the whole
# request under 100 MB. A chunk is as large as both allow: fewer round trips, fewer requests
# against the account's rate limit.
BULK_MAX_ITEMS = 10_000
BULK_MAX_BYTES = 100 * 1000 * 1000


@dataclass(frozen=True)
class BulkItem:
    """One entry of `bulk put`; `base64=True` when `value` is base64 of binary data."""

    key: str
    value: str
    expiration: int | None = None
    expiration_ttl: int | None = None
    metadata: Any = None
    base64: bool = False

    @classmethod
    def from_put_item(cls, item: PutItem) -> BulkItem:
        """A parsed local `bulk put` item; binary values travel as base64."""
        try:
            text, is_base64 = item.value.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(item.value).decode("ascii"), True
        # The local item's `expiration_ttl` wins over `expiration`, as the API does.
        return cls(
            key=item.key,
            value=text,
            expiration=None if item.expiration_ttl is not None else item.expiration,
            expiration_ttl=item.expiration_ttl,
            metadata=item.metadata,
            base64=is_base64,
        )

    def to_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {"key": self.key, "value": self.value}
        if self.base64:
            item["base64"] = True
        if self.expiration is not None:
            item["expiration"] = self.expiration
        if self.expiration_ttl is not None:
            item["expiration_ttl"] = self.expiration_ttl
        if self.metadata is not None:
            item["metadata"] = self.metadata
        return item


@dataclass(frozen=True)
class Chunk:
    """One bulk request: its body (JSON, encoded once) and the keys it carries."""

    keys: tuple[str, ...]
    body: bytes


def put_chunks(
    items: Iterable[BulkItem],
    *,
    max_items: int = BULK_MAX_ITEMS,
    max_bytes: int = BULK_MAX_BYTES,
) -> list[Chunk]:
    """Bulk-write bodies as large as the API allows: `max_items` pairs, under `max_bytes`."""
    return _pack(((item.key, item.to_api()) for item in items), max_items, max_bytes)


def delete_chunks(
    keys: Iterable[str], *, max_items: int = BULK_MAX_ITEMS, max_bytes: int = BULK_MAX_BYTES
) -> list[Chunk]:
    return _pack(((key, key) for key in keys), max_items, max_bytes)


def _pack(entries: Iterable[tuple[str, Any]], max_items: int, max_bytes: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    group: list[tuple[str, Any]] = []
    for key, entry in entries:
        _check_bulk_key(key)
        group.append((key, entry))
        if len(group) == max_items:
            chunks += _by_size(group, max_bytes)
            group = []
    if group:
        chunks += _by_size(group, max_bytes)
    return chunks


def _by_size(group: list[tuple[str, Any]], max_bytes: int) -> list[Chunk]:
    """One chunk when the group's body fits (encoded once: the common case), else split."""
    body = json.dumps([entry for _key, entry in group], separators=_COMPACT).encode()
    if len(body) < max_bytes:
        return [Chunk(tuple(key for key, _entry in group), body)]
    # Too large: item by item (the same bytes, as a compact list is its items joined by ",").
    chunks: list[Chunk] = []
    keys: list[str] = []
    parts: list[bytes] = []
    size = 2  # the brackets
    for key, entry in group:
        part = json.dumps(entry, separators=_COMPACT).encode()
        if 2 + len(part) >= max_bytes:
            raise LimitError(
                f"the bulk item {key!r} alone is {len(part)} bytes encoded; one API request "
                f"is under {max_bytes // 1_000_000} MB",
                hint="write that value with `worktime kv key put` instead",
            )
        if keys and size + 1 + len(part) >= max_bytes:
            chunks.append(Chunk(tuple(keys), b"[" + b",".join(parts) + b"]"))
            keys, parts, size = [], [], 2
        size += len(part) + (1 if keys else 0)
        keys.append(key)
        parts.append(part)
    if keys:
        chunks.append(Chunk(tuple(keys), b"[" + b",".join(parts) + b"]"))
    return chunks


_COMPACT = (",", ":")


def _check_bulk_key(key: str) -> None:
    """`key_segment`'s rules without building the segment (a bulk key is not in the URL)."""
    if not key or key in (".", "..") or len(key) * 4 > MAX_KEY_BYTES:
        key_segment(key)  # raises the one message for each rule (or passes a long-looking key)


@dataclass(frozen=True)
class ChunkFailure:
    """Keys that did not land, and why (the request failed for good, or the API said so)."""

    keys: tuple[str, ...]
    error: str
    code: int | None = None
    cause: RemoteError | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"keys": list(self.keys), "error": self.error, "code": self.code}


@dataclass(frozen=True)
class BulkReport:
    """What a remote bulk write or delete got through: keys landed, and those that did not."""

    action: Literal["written", "deleted"]
    landed: int
    requested: int
    failed: tuple[ChunkFailure, ...] = ()

    @property
    def failed_keys(self) -> tuple[str, ...]:
        return tuple(key for failure in self.failed for key in failure.keys)

    def to_json(self) -> dict[str, Any]:
        return {
            self.action: self.landed,
            "requested": self.requested,
            "failed": [failure.to_json() for failure in self.failed],
        }


def send_chunks(
    client: Client,
    method: str,
    path: str,
    chunks: Sequence[Chunk],
    *,
    action: Literal["written", "deleted"],
    progress: Callable[[int], None] | None = None,
    limit: int = IN_FLIGHT,
) -> BulkReport:
    """Send every chunk, `limit` in flight; a chunk that fails for good does not stop the others.

    Bulk writes and deletes are idempotent (the same keys, the same values), so the client
    retries a chunk on 429 (after Retry-After, pausing every chunk) and on 5xx.
    """

    def send(chunk: Chunk) -> Any:
        return client.call(
            method,
            path,
            content=chunk.body,
            headers={"Content-Type": "application/json"},
            idempotent=True,
        ).result

    landed = 0
    failed: list[ChunkFailure] = []
    for chunk, outcome in in_flight(send, chunks, limit=limit):
        if isinstance(outcome, RemoteError):
            failed.append(ChunkFailure(chunk.keys, outcome.message, outcome.code, outcome))
            continue
        refused = _unsuccessful(outcome, chunk.keys)
        if refused:
            failed.append(ChunkFailure(refused, "Cloudflare answered that these keys failed"))
        landed += len(chunk.keys) - len(refused)
        if progress is not None:
            progress(len(chunk.keys))
    requested = sum(len(chunk.keys) for chunk in chunks)
    # Chunks finish in any order: report the failed keys in the order they were given.
    order = {chunk.keys[0]: i for i, chunk in enumerate(chunks) if chunk.keys}
    failed.sort(key=lambda f: order.get(f.keys[0], len(order)) if f.keys else 0)
    return BulkReport(action, landed, requested, tuple(failed))


def _unsuccessful(result: Any, sent: tuple[str, ...]) -> tuple[str, ...]:
    """`unsuccessful_keys` of a bulk answer, in the order they were sent."""
    named = result.get("unsuccessful_keys") if isinstance(result, dict) else None
    if not named or not isinstance(named, list):
        return ()
    refused = {str(key) for key in named}
    return tuple(key for key in sent if key in refused)


SHOWN_KEYS = 10


class BulkError(RemoteError):
    """A remote bulk write/delete that did not fully land; `result` names every key."""

    def __init__(self, message: str, hint: str | None, *, code: int | None, result: BulkReport):
        super().__init__(message, hint, code=code)
        self.result = result  # the JSON error envelope shows it as error.result


def bulk_failed(report: BulkReport) -> BulkError:
    """The error for a bulk that did not fully land: which keys, and the report as `.result`."""
    first = report.failed[0]
    keys = report.failed_keys
    causes = {(f.code, f.error) for f in report.failed}
    if report.landed == 0 and len(causes) == 1 and first.cause is not None:
        # Nothing landed, for one reason: that reason is the whole story (and keeps its hint).
        cause = first.cause
        return BulkError(cause.message, cause.hint, code=cause.code, result=report)
    verb = "written" if report.action == "written" else "deleted"
    shown = ", ".join(repr(key) for key in keys[:SHOWN_KEYS])
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return BulkError(
        f"{len(keys)} of {report.requested} key(s) were not {verb}: {first.error}",
        hint=f"not {verb}: {shown}{more} (--json lists every key); "
        "the others were, and running the same file again is safe",
        code=first.code,
        result=report,
    )


def bulk_put(
    client: Client,
    namespace_id: str,
    items: Iterable[BulkItem],
    *,
    chunk: int = BULK_MAX_ITEMS,
    progress: Callable[[int], None] | None = None,
    limit: int = IN_FLIGHT,
) -> int:
    """Write items in the largest chunks the API takes, `limit` in flight; how many landed.

    Raises `bulk_failed(...)` naming every key that did not land.
    """
    report = send_chunks(
        client,
        "PUT",
        ns_path(client, namespace_id, "/bulk"),
        put_chunks(items, max_items=chunk),
        action="written",
        progress=progress,
        limit=limit,
    )
    if report.failed:
        raise bulk_failed(report)
    return report.landed


def bulk_delete(
    client: Client,
    namespace_id: str,
    keys: Iterable[str],
    *,
    chunk: int = BULK_MAX_ITEMS,
    progress: Callable[[int], None] | None = None,
    limit: int = IN_FLIGHT,
) -> int:
    """Delete keys via `POST …/bulk/delete` in chunks (deleting twice is harmless: retried)."""
    report = send_chunks(
        client,
        "POST",
        ns_path(client, namespace_id, "/bulk/delete"),
        delete_chunks(keys, max_items=chunk),
        action="deleted",
        progress=progress,
        limit=limit,
    )
    if report.failed:
        raise bulk_failed(report)
    return report.landed
