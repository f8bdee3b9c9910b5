"""The remote target of the KV seam (the `KVNamespaces` / `KVNamespace` protocols of
`targets.kv`): the same arguments as the local store, the same limits checked with the same
messages (`kv.validate_item`, `kv.check_list_args`) before any request, the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

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
from worktime_cli.project.config import Config, KVBinding
from worktime_cli.remote.client import Client
from worktime_cli.remote.kv.bulk import BulkItem, bulk_delete, bulk_put
from worktime_cli.remote.kv.keys import (
    KEY_NOT_FOUND,
    MIN_LIST_LIMIT,
    delete,
    get,
    get_metadata,
    list_page,
    put,
)
from worktime_cli.remote.kv.namespaces import (
    create_bound_namespace,
    delete_namespace,
    list_namespaces,
    namespace_title,
)


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
