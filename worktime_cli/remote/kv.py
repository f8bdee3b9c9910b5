"""Remote Workers KV: namespaces, values, metadata, key lists and bulk writes.

`RemoteKV` / `RemoteNamespace` are the remote side of the KV seam (`targets.kv`): they take
the same arguments as the local store, check the same limits with the same messages
(`kv.validate_item`, `kv.check_list_args`) before any request, and return the same results.
The functions below them are the HTTP calls, one per API operation.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from worktime_cli import clock as worktime_clock
from worktime_cli import kv as local_kv
from worktime_cli.errors import LimitError, NotFoundError, RemoteError
from worktime_cli.kv import (  # the local store's shapes: one JSON for both
    BulkResult,
    CreatedNamespace,
    DeletedNamespace,
    DeleteResult,
    Entry,
    KeyInfo,
    NamespaceInfo,
    NamespaceList,
    Page,
    PutItem,
    PutResult,
)
from worktime_cli.project import config as configmod
from worktime_cli.project import editing
from worktime_cli.project.config import Config, KVBinding
from worktime_cli.remote.client import IN_FLIGHT, Client, in_flight

# Cloudflare's published limits for one bulk request: up to 10,000 pairs, and the whole
# request under 100 MB. A chunk is as large as both allow: fewer round trips, fewer requests
# against the account's rate limit.
BULK_MAX_ITEMS = 10_000
BULK_MAX_BYTES = 100 * 1000 * 1000
BULK_CHUNK = BULK_MAX_ITEMS
MAX_KEY_BYTES = 512
MIN_LIST_LIMIT = 10  # the API refuses smaller pages
KEY_NOT_FOUND = 10009


@dataclass(frozen=True)
class Namespace:
    id: str
    title: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title}


@dataclass(frozen=True)
class BoundNamespace:
    """`kv namespace create --remote`: the namespace and how wrangler.toml now names it."""

    namespace: Namespace
    binding: str
    config_path: Path
    preview_id: str | None  # the old local id, kept so local data stays where it was

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "id": self.namespace.id,
            "title": self.namespace.title,
            "preview_id": self.preview_id,
        }


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


def _ns_path(client: Client, namespace_id: str, rest: str = "") -> str:
    return client.account_path(f"/storage/kv/namespaces/{namespace_id}{rest}")


def key_segment(key: str) -> str:
    """A key as ONE path segment: everything percent-encoded, `/` included (`%2F`)."""
    if not key:
        raise LimitError("a KV key cannot be empty")
    if key in (".", ".."):
        # Cloudflare refuses these as URL segments; say so before sending.
        raise LimitError(f"the KV key {key!r} cannot be used over the API")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise LimitError(f"KV keys are at most {MAX_KEY_BYTES} bytes")
    return quote(key, safe="")


def namespace_title(cfg: Config, binding: str) -> str:
    """The title wrangler gives `kv namespace create BINDING`: `<worker name>-<binding>`."""
    return f"{cfg.name}-{binding}" if cfg.name else binding


def list_namespaces(client: Client, *, per_page: int = 100) -> list[Namespace]:
    path = client.account_path("/storage/kv/namespaces")
    return [
        Namespace(id=str(item.get("id", "")), title=str(item.get("title", "")))
        for item in client.paginate(path, per_page=per_page)
    ]


def create_namespace(client: Client, title: str) -> Namespace:
    result = (
        client.call(
            "POST", client.account_path("/storage/kv/namespaces"), json={"title": title}
        ).result
        or {}
    )
    return Namespace(id=str(result.get("id", "")), title=str(result.get("title", title)))


def create_bound_namespace(client: Client, cfg: Config, binding: str) -> BoundNamespace:
    """Create `<worker>-<binding>` on Cloudflare and record its id in wrangler.toml.

    miniflare keeps local data under `preview_id ?? id`, so when the binding already has a
    local id and no preview_id, that id moves to `preview_id`: local data is not orphaned.
    """
    namespace = create_namespace(client, namespace_title(cfg, binding))
    existing = next((ns for ns in cfg.kv_namespaces if ns.binding == binding), None)
    if existing is None:
        # Into the selected env's section (`[env.NAME]`), as wrangler's --env writes it.
        new_cfg = editing.append_table(
            cfg, "kv_namespaces", {"binding": binding, "id": namespace.id}
        )
        return BoundNamespace(namespace, binding, new_cfg.path, None)
    values = {"id": namespace.id}
    if existing.preview_id is None and existing.id and existing.id != namespace.id:
        values["preview_id"] = existing.id
    new_cfg = editing.update_table(cfg, "kv_namespaces", {"binding": binding}, values)
    return BoundNamespace(namespace, binding, new_cfg.path, new_cfg.kv(binding=binding).preview_id)


def delete_namespace(client: Client, namespace_id: str) -> None:
    client.call("DELETE", _ns_path(client, namespace_id))


def put(
    client: Client,
    namespace_id: str,
    key: str,
    value: bytes,
    *,
    expiration: int | None = None,
    expiration_ttl: int | None = None,
    metadata: Any = None,
) -> None:
    """Write one value; with metadata the body is multipart (`value` + `metadata` parts)."""
    path = _ns_path(client, namespace_id, f"/values/{key_segment(key)}")
    params = {"expiration": expiration, "expiration_ttl": expiration_ttl}
    if metadata is None:
        client.call(
            "PUT",
            path,
            params=params,
            content=value,
            headers={"Content-Type": "application/octet-stream"},
        )
        return
    files = {
        "value": (None, value, "application/octet-stream"),
        "metadata": (None, json.dumps(metadata).encode(), "application/json"),
    }
    client.call("PUT", path, params=params, files=files)


def get(client: Client, namespace_id: str, key: str) -> bytes:
    return client.call_raw("GET", _ns_path(client, namespace_id, f"/values/{key_segment(key)}"))


def get_metadata(client: Client, namespace_id: str, key: str) -> Any:
    return client.call(
        "GET", _ns_path(client, namespace_id, f"/metadata/{key_segment(key)}")
    ).result


def delete(client: Client, namespace_id: str, key: str) -> None:
    client.call("DELETE", _ns_path(client, namespace_id, f"/values/{key_segment(key)}"))


def iter_keys(
    client: Client, namespace_id: str, *, prefix: str | None = None, limit: int = 1000
) -> Iterator[KeyInfo]:
    """Every key (all cursor pages); `limit` is the page size the API uses (10–1000)."""
    path = _ns_path(client, namespace_id, "/keys")
    for item in client.cursor(path, params={"prefix": prefix or None, "limit": limit}):
        yield KeyInfo(
            name=str(item.get("name", "")),
            expiration=item.get("expiration"),
            metadata=item.get("metadata"),
        )


def list_page(
    client: Client,
    namespace_id: str,
    *,
    prefix: str | None = None,
    limit: int = 1000,
    cursor: str | None = None,
) -> Page:
    """One page of keys, for `--limit`/`--cursor`: a single call."""
    envelope = client.call(
        "GET",
        _ns_path(client, namespace_id, "/keys"),
        params={"prefix": prefix or None, "limit": limit, "cursor": cursor},
    )
    keys = tuple(
        KeyInfo(
            name=str(i.get("name", "")), expiration=i.get("expiration"), metadata=i.get("metadata")
        )
        for i in envelope.result or []
    )
    return Page(keys, envelope.result_info.get("cursor") or None)


def list_keys(
    client: Client, namespace_id: str, *, prefix: str | None = None, limit: int = 1000
) -> list[KeyInfo]:
    return list(iter_keys(client, namespace_id, prefix=prefix, limit=limit))


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
        _ns_path(client, namespace_id, "/bulk"),
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
        _ns_path(client, namespace_id, "/bulk/delete"),
        delete_chunks(keys, max_items=chunk),
        action="deleted",
        progress=progress,
        limit=limit,
    )
    if report.failed:
        raise bulk_failed(report)
    return report.landed


# --- the remote target (the `KVNamespaces` / `KVNamespace` protocols of `targets.kv`) -------


class RemoteNamespace:
    """One namespace on Cloudflare. Its id is resolved on first use (a title may need a request)."""

    where = " on Cloudflare"

    def __init__(
        self,
        client: Client,
        namespace_id: str | None,
        *,
        resolve: Callable[[], str] | None = None,
        clock: Callable[[], float] = worktime_clock.timestamp,
    ) -> None:
        self.client = client
        self._id = namespace_id
        self._resolve = resolve
        self._clock = clock

    @property
    def id(self) -> str:
        if self._id is None:
            assert self._resolve is not None
            self._id = self._resolve()
        return self._id

    def __enter__(self) -> RemoteNamespace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the CLI context."""

    def get(self, key: str) -> Entry | None:
        local_kv.validate_key(key)
        try:
            value = get(self.client, self.id, key)
        except RemoteError as exc:
            if exc.code == KEY_NOT_FOUND:
                return None
            raise
        # The value endpoint carries neither expiration nor metadata; the key's list entry
        # has both (a key sorts before every longer key it prefixes, so it comes first).
        info = self._key_info(key)
        if info is not None:
            return Entry(key, value, info.expiration, info.metadata)
        # Listing lags writes by up to a minute on Cloudflare; the metadata endpoint does not.
        return Entry(key, value, None, self._metadata(key))

    def put(
        self,
        key: str,
        value: bytes,
        *,
        expiration: int | None = None,
        expiration_ttl: int | None = None,
        metadata: Any = None,
    ) -> PutResult:
        item = PutItem(
            key, value, expiration_ttl=expiration_ttl, expiration=expiration, metadata=metadata
        )
        row = local_kv.validate_item(item, self._clock())
        # --ttl wins over --expiration, as locally: send only one of them.
        put(
            self.client,
            self.id,
            key,
            value,
            expiration=None if expiration_ttl is not None else expiration,
            expiration_ttl=expiration_ttl,
            metadata=metadata,
        )
        expires = None if row.expiration_ms is None else row.expiration_ms // 1000
        return PutResult(key=key, size=len(value), expiration=expires)

    def page(
        self,
        *,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int = local_kv.MAX_LIST_LIMIT,
    ) -> Page:
        local_kv.check_list_args(prefix, limit)
        if limit < MIN_LIST_LIMIT:
            raise LimitError(
                f"list limit {limit} is below Cloudflare's minimum of {MIN_LIST_LIMIT}",
                hint=f"pass a limit of {MIN_LIST_LIMIT}–{local_kv.MAX_LIST_LIMIT}",
            )
        return list_page(self.client, self.id, prefix=prefix, limit=limit, cursor=cursor)

    def delete(self, key: str) -> DeleteResult:
        local_kv.validate_key(key)
        # The API answers a delete the same whether or not the key was there: ask first.
        try:
            get_metadata(self.client, self.id, key)
            existed = True
        except RemoteError as exc:
            if exc.code != KEY_NOT_FOUND:
                raise
            existed = False
        try:
            delete(self.client, self.id, key)
        except RemoteError as exc:
            # Gone already (between the two calls, or an API that says so): that is the goal.
            if exc.code != KEY_NOT_FOUND:
                raise
        return DeleteResult(key=key, existed=existed)

    def bulk_put(
        self, items: Iterable[PutItem], *, progress: Callable[[int], None] | None = None
    ) -> BulkResult:
        items = list(items)
        local_kv.latest_rows(items, self._clock())  # the local rules, before any request
        last: dict[str, PutItem] = {}
        for item in items:  # a later duplicate wins, as locally: send it alone
            last.pop(item.key, None)
            last[item.key] = item
        written = bulk_put(
            self.client,
            self.id,
            (BulkItem.from_put_item(i) for i in last.values()),
            progress=progress,
        )
        return BulkResult("written", written, len(items))

    def bulk_delete(
        self, keys: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> BulkResult:
        for key in keys:
            local_kv.validate_key(key)
        unique = list(dict.fromkeys(keys))
        bulk_delete(self.client, self.id, unique, progress=progress)
        # The API does not say which keys existed: every listed key is gone now.
        return BulkResult("deleted", len(unique), len(keys))

    def _key_info(self, key: str) -> KeyInfo | None:
        page = list_page(self.client, self.id, prefix=key, limit=MIN_LIST_LIMIT)
        return next((k for k in page.keys if k.name == key), None)

    def _metadata(self, key: str) -> Any:
        try:
            return get_metadata(self.client, self.id, key)
        except RemoteError as exc:
            if exc.code == KEY_NOT_FOUND:
                return None
            raise


class RemoteKV:
    """The account's namespaces; wrangler.toml names them by binding (its `id` is Cloudflare's)."""

    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config

    def describe(self, name: str) -> str:
        return f"the remote KV namespace {name}"

    def list(self) -> NamespaceList:
        bindings = {ns.id: ns.binding for ns in self.config.kv_namespaces if ns.id}
        return NamespaceList(
            tuple(
                NamespaceInfo(binding=bindings.get(ns.id), id=ns.id, title=ns.title)
                for ns in list_namespaces(self.client)
            ),
            remote=True,
        )

    def create(self, binding: str) -> CreatedNamespace:
        local_kv.check_new_binding(self.config, binding, kv_taken=False)
        bound = create_bound_namespace(self.client, self.config, binding)
        self.config = configmod.load(bound.config_path, env=self.config.env)
        return CreatedNamespace(
            binding=bound.binding,
            id=bound.namespace.id,
            config_name=bound.config_path.name,
            title=bound.namespace.title,
            preview_id=bound.preview_id,
        )

    def delete(self, binding_or_id: str, *, by_id: bool = False) -> DeletedNamespace:
        ns = self.namespace(binding_or_id, by_id=by_id)
        delete_namespace(self.client, ns.id)
        return DeletedNamespace(namespace=binding_or_id, id=ns.id, remote=True)

    def namespace(
        self, binding_or_id: str, *, by_id: bool = False, preview: bool | None = None
    ) -> RemoteNamespace:
        if by_id:
            return RemoteNamespace(self.client, binding_or_id)
        ns = local_kv.select_binding(self.config, binding_or_id).previewed(preview)
        if ns.id:
            return RemoteNamespace(self.client, ns.id)
        return RemoteNamespace(self.client, None, resolve=lambda: self._by_title(ns))

    def _by_title(self, ns: KVBinding) -> str:
        """A binding with no id yet: the namespace wrangler would have created for it."""
        title = namespace_title(self.config, ns.binding)
        for remote in list_namespaces(self.client):
            if remote.title == title:
                return remote.id
        raise NotFoundError(
            f"KV binding {ns.binding!r} has no id in {self.config.path.name}, and the account "
            f"has no namespace titled {title!r}",
            hint=f"create it with `worktime kv namespace create {ns.binding} --remote`",
        )
