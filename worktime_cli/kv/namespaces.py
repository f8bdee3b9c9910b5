"""KV namespaces: which one a command names, creating and deleting them, and the local target.

`select_binding` is the one rule both targets use to turn `--binding` / `--namespace-id` into
a namespace, so an unknown name is the same error locally and with `--remote`.
`LocalKV` / `LocalNamespace` implement `targets.kv` over the local store.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.errors import ConfigError, LockedError, NotFoundError
from worktime_cli.kv.limits import MAX_LIST_LIMIT
from worktime_cli.kv.records import (
    BulkResult,
    DeleteResult,
    Entry,
    Page,
    PutItem,
    PutResult,
)
from worktime_cli.kv.store import KVStore
from worktime_cli.project import state
from worktime_cli.project.config import Config, KVBinding
from worktime_cli.project.editing import append_table, remove_table


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
class GCResult:
    """`namespace gc`: how many orphaned value files were removed."""

    removed: int

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.removed}


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


def create_namespace(
    cfg: Config, binding: str, state_root: Path | None = None
) -> tuple[Config, KVBinding]:
    """Add `[[kv_namespaces]] binding = … id = <new 32-hex id>` to wrangler.toml.

    With `state_root`, the local store is created first and the config edited second; if
    the edit fails the new store is removed again, so a read-only or full state folder
    changes neither (issue 13). Without it the first write creates the store, as miniflare.
    """
    check_new_binding(cfg, binding, kv_taken=True)
    namespace_id = uuid.uuid4().hex
    if state_root is not None:
        # The folders only: a store with no index still lists as "no local data", as before,
        # and making them proves the state folder is writable before the config changes.
        store = KVStore(state_root, namespace_id)
        try:
            with fsutil.translated(store.blobs_dir, "create"):
                store.index_path.parent.mkdir(parents=True, exist_ok=True)
                store.blobs_dir.mkdir(parents=True)
        except BaseException:
            with contextlib.suppress(OSError):  # what could not be made cannot be removed
                _remove_local_data(state_root, store)
            raise
    try:
        new_cfg = append_table(cfg, "kv_namespaces", {"binding": binding, "id": namespace_id})
    except BaseException:
        if state_root is not None:
            _remove_local_data(state_root, KVStore(state_root, namespace_id))
        raise
    return new_cfg, new_cfg.kv(binding=binding)


def _remove_local_data(state_root: Path, store: KVStore) -> None:
    """Remove a namespace's index (and its WAL/SHM) and its value folder, quietly."""
    import shutil

    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{store.index_path}{suffix}")
    folder = store.blobs_dir.parent  # v3/kv/<id>: KVStore refuses ids that would be anything else
    assert folder.parent == state_root / "v3" / "kv" and folder.name != state.KV_UNIQUE_KEY
    shutil.rmtree(folder, ignore_errors=True)


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
    store = KVStore(state_root, ns.local_id)
    existed = store.exists or store.blobs_dir.exists()
    # An index `wrangler dev` holds open would live on as a deleted file it writes into.
    who = fsutil.in_use_by(Path(f"{store.index_path}{s}") for s in ("", "-wal", "-shm"))
    if who:
        raise LockedError(
            f"KV namespace {ns.binding} is in use by {who}; nothing was deleted",
            hint="stop that process (wrangler dev, worktime dev), then run the command again",
        )
    _remove_local_data(state_root, store)
    configured = any(n.binding == ns.binding for n in cfg.kv_namespaces)
    if configured:
        cfg = remove_table(cfg, "kv_namespaces", {"binding": ns.binding})
    return cfg, existed


# --- the local target (the `KVNamespaces` / `KVNamespace` protocols of `targets.kv`) --------


class LocalNamespace:
    """One local namespace: a `KVStore` in the files `wrangler dev` reads."""

    where = ""  # success lines name no place: local is the default

    def __init__(self, store: KVStore) -> None:
        self.store = store

    @property
    def id(self) -> str:
        return self.store.namespace_id

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
        new_cfg, ns = create_namespace(self.config, binding, self.state_root)
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

    def namespace(
        self, binding_or_id: str, *, by_id: bool = False, preview: bool | None = None
    ) -> LocalNamespace:
        ns = select_binding(self.config, binding_or_id, by_id=by_id)
        if not by_id:
            ns = ns.previewed(preview)
        return LocalNamespace(KVStore(self.state_root, ns.local_id))

    def gc(self, binding_or_id: str, *, by_id: bool = False) -> GCResult:
        """Remove orphaned value files now: see `KVStore.gc`.

        The grace period applies here too: a file younger than it may belong to a write in
        flight in wrangler dev, and removing it would lose a value whose row commits next.
        """
        with self.namespace(binding_or_id, by_id=by_id) as ns:
            return GCResult(ns.store.gc())
