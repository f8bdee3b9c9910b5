"""One remote KV key at a time: a key as one URL segment, put (with metadata), get, metadata,
delete, and the key list (one page, or every page).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from worktime_cli.errors import LimitError
from worktime_cli.kv import KeyInfo, Page
from worktime_cli.remote.client import Client
from worktime_cli.remote.kv.namespaces import ns_path

MAX_KEY_BYTES = 512
MIN_LIST_LIMIT = 10  # the API refuses smaller pages
KEY_NOT_FOUND = 10009


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
    path = ns_path(client, namespace_id, f"/values/{key_segment(key)}")
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
    return client.call_raw("GET", ns_path(client, namespace_id, f"/values/{key_segment(key)}"))


def get_metadata(client: Client, namespace_id: str, key: str) -> Any:
    return client.call("GET", ns_path(client, namespace_id, f"/metadata/{key_segment(key)}")).result


def delete(client: Client, namespace_id: str, key: str) -> None:
    client.call("DELETE", ns_path(client, namespace_id, f"/values/{key_segment(key)}"))


def iter_keys(
    client: Client, namespace_id: str, *, prefix: str | None = None, limit: int = 1000
) -> Iterator[KeyInfo]:
    """Every key (all cursor pages); `limit` is the page size the API uses (10–1000)."""
    path = ns_path(client, namespace_id, "/keys")
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
        ns_path(client, namespace_id, "/keys"),
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
