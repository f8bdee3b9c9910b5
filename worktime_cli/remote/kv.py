"""Remote Workers KV: namespaces, values, metadata, key lists and bulk writes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from worktime_cli import config as configmod
from worktime_cli.config import Config
from worktime_cli.errors import LimitError, NotFoundError
from worktime_cli.kv import KeyInfo, Page  # the local store's shapes: one JSON for both
from worktime_cli.remote.client import Client, chunked

if TYPE_CHECKING:
    from worktime_cli.kv import PutItem

BULK_CHUNK = 1000  # items per request: well under the API's 10,000 items / 100 MB
BULK_MAX_BYTES = 100 * 1000 * 1000
MAX_KEY_BYTES = 512


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
        new_cfg = configmod.append_table(
            cfg.path, "kv_namespaces", {"binding": binding, "id": namespace.id}
        )
        return BoundNamespace(namespace, binding, new_cfg.path, None)
    values = {"id": namespace.id}
    if existing.preview_id is None and existing.id and existing.id != namespace.id:
        values["preview_id"] = existing.id
    new_cfg = configmod.update_table(cfg.path, "kv_namespaces", {"binding": binding}, values)
    return BoundNamespace(namespace, binding, new_cfg.path, new_cfg.kv(binding=binding).preview_id)


def delete_namespace(client: Client, namespace_id: str) -> None:
    client.call("DELETE", _ns_path(client, namespace_id))


def resolve_namespace(client: Client, cfg: Config | None, binding_or_id: str) -> str:
    """A namespace id from a binding in wrangler.toml, a title, or an id as-is."""
    if cfg is not None:
        for ns in cfg.kv_namespaces:
            if ns.binding == binding_or_id and ns.id:
                return ns.id
    # wrangler titles a binding's namespace `<worker>-<BINDING>`: match that too.
    titles = {binding_or_id} | ({namespace_title(cfg, binding_or_id)} if cfg is not None else set())
    for remote in list_namespaces(client):
        if remote.id == binding_or_id or remote.title in titles:
            return remote.id
    raise NotFoundError(
        f"no remote KV namespace {binding_or_id!r}",
        hint="set its id in wrangler.toml, or see `worktime kv namespace list --remote`",
    )


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


def bulk_put(
    client: Client, namespace_id: str, items: Iterable[BulkItem], *, chunk: int = BULK_CHUNK
) -> int:
    """Write items in chunks of `chunk`; returns how many were written."""
    path = _ns_path(client, namespace_id, "/bulk")
    written = 0
    for batch in chunked(items, chunk):
        body = [item.to_api() for item in batch]
        if len(json.dumps(body)) > BULK_MAX_BYTES:
            raise LimitError(
                f"a bulk write of {len(batch)} items exceeds the API's 100 MB per request",
                hint="split the file, or pass smaller values",
            )
        for item in batch:
            key_segment(item.key)
        client.call("PUT", path, json=body)
        written += len(batch)
    return written


def bulk_delete(
    client: Client, namespace_id: str, keys: Iterable[str], *, chunk: int = BULK_CHUNK
) -> int:
    """Delete keys in chunks via `POST …/bulk/delete`; returns how many were sent."""
    path = _ns_path(client, namespace_id, "/bulk/delete")
    deleted = 0
    for batch in chunked(keys, chunk):
        # Deleting the same keys twice is harmless: safe to retry on 5xx.
        client.call("POST", path, json=list(batch), idempotent=True)
        deleted += len(batch)
    return deleted
