"""The KV seam: a set of namespaces and one namespace, local (`kv`) or on Cloudflare (`remote.kv`).

Both sides take the same arguments, check the same limits with the same messages (`kv`'s
validators) and return the same result types, so a command never asks where it runs. What
truly differs stays inside an implementation: a local `create` only edits wrangler.toml, a
remote one creates the namespace on Cloudflare and then records its id there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from worktime_cli.kv import (
    MAX_LIST_LIMIT,
    BulkResult,
    CreatedNamespace,
    DeletedNamespace,
    DeleteResult,
    Entry,
    KeyInfo,
    NamespaceList,
    Page,
    PutItem,
    PutResult,
)

Progress = Callable[[int], None]


class KVNamespace(Protocol):
    """One namespace's keys. Limits (key size, TTL, metadata) are checked before any write."""

    @property
    def where(self) -> str:
        """Appended to success lines: "" locally, " on Cloudflare" remotely."""
        ...

    @property
    def id(self) -> str:
        """The namespace's id (locally the one its files are named by)."""
        ...

    def get(self, key: str) -> Entry | None:
        """The live value with its expiration and metadata, or None when the key is absent."""
        ...

    def put(
        self,
        key: str,
        value: bytes,
        *,
        expiration: int | None = None,
        expiration_ttl: int | None = None,
        metadata: Any = None,
    ) -> PutResult:
        """Write one value; `expiration_ttl` wins over `expiration` when both are given."""
        ...

    def page(
        self, *, prefix: str | None = None, cursor: str | None = None, limit: int = MAX_LIST_LIMIT
    ) -> Page:
        """One page of keys in key order; `cursor` continues after a previous page."""
        ...

    def delete(self, key: str) -> DeleteResult:
        """Delete one key; deleting an absent key is not an error (`existed` is False)."""
        ...

    def bulk_put(self, items: Iterable[PutItem], *, progress: Progress | None = None) -> BulkResult:
        """Validate every item, then write them all (a later duplicate key wins)."""
        ...

    def bulk_delete(self, keys: Sequence[str], *, progress: Progress | None = None) -> BulkResult:
        """Delete every listed key."""
        ...

    def close(self) -> None:
        """Release what the namespace holds open (a local SQLite connection)."""
        ...


class KVNamespaces(Protocol):
    """The namespaces a project can reach: wrangler.toml's (local) or the account's (remote)."""

    def describe(self, name: str) -> str:
        """How prompts name a namespace: "KV namespace X" / "the remote KV namespace X"."""
        ...

    def list(self) -> NamespaceList: ...

    def create(self, binding: str) -> CreatedNamespace: ...

    def delete(self, binding_or_id: str, *, by_id: bool = False) -> DeletedNamespace: ...

    def namespace(
        self, binding_or_id: str, *, by_id: bool = False, preview: bool | None = None
    ) -> KVNamespace:
        """The namespace of a configured binding (or id); `by_id`: an id used as given.

        An unknown binding is the same `NotFoundError` on both sides (`kv.select_binding`).
        `preview` is wrangler's `--preview` (`KVBinding.previewed`); an id ignores it, as there.
        """
        ...


def all_keys(
    namespace: KVNamespace, prefix: str | None = None, *, cursor: str | None = None
) -> Page:
    """Every live key under `prefix` (after `cursor`), page by page (local or remote)."""
    keys: list[KeyInfo] = []
    while True:
        page = namespace.page(prefix=prefix, cursor=cursor, limit=MAX_LIST_LIMIT)
        keys.extend(page.keys)
        if page.list_complete:
            return Page(tuple(keys))
        cursor = page.cursor
