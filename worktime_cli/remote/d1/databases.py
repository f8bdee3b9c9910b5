"""Remote D1 databases of the account: list, look up by id or name, create (recording the id in
wrangler.toml and moving the local file with it) and delete, under /accounts/{id}/d1/database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli.errors import NotFoundError, RemoteError
from worktime_cli.project import bindings, editing, state
from worktime_cli.project import config as configmod
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.remote.client import Client

LOCATIONS = ("wnam", "enam", "weur", "eeur", "apac", "oc")


@dataclass(frozen=True)
class RemoteDatabase:
    uuid: str
    name: str
    created_at: str | None = None
    version: str | None = None
    num_tables: int | None = None
    file_size: int | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RemoteDatabase:
        return cls(
            uuid=str(item.get("uuid", "")),
            name=str(item.get("name", "")),
            created_at=item.get("created_at"),
            version=item.get("version"),
            num_tables=item.get("num_tables"),
            file_size=item.get("file_size"),
        )

    def to_json(self) -> dict[str, Any]:
        # The local commands' keys where the concept is the same (name, id, size).
        return {
            "database_name": self.name,
            "database_id": self.uuid,
            "created_at": self.created_at,
            "version": self.version,
            "num_tables": self.num_tables,
            "size": self.file_size,
        }


@dataclass(frozen=True)
class CreateResult:
    database: RemoteDatabase
    binding: str
    config_path: Path
    moved_from: Path | None  # the local file, when it existed under the old id
    moved_to: Path | None

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "database_name": self.database.name,
            "database_id": self.database.uuid,
            "created_at": self.database.created_at,
            "config": str(self.config_path),
            "local_moved_from": str(self.moved_from) if self.moved_from else None,
            "local_moved_to": str(self.moved_to) if self.moved_to else None,
        }


def list_databases(
    client: Client, *, name: str | None = None, per_page: int = 100
) -> list[RemoteDatabase]:
    """Every database of the account (all pages)."""
    params = {"name": name} if name else None
    path = client.account_path("/d1/database")
    return [
        RemoteDatabase.from_api(item)
        for item in client.paginate(path, params=params, per_page=per_page)
    ]


def get_database(client: Client, database_id: str) -> RemoteDatabase:
    result = client.call("GET", client.account_path(f"/d1/database/{database_id}")).result
    return RemoteDatabase.from_api(result or {})


def resolve(client: Client, cfg: Config | None, name: str) -> RemoteDatabase:
    """The remote database for `name`: wrangler.toml's database_id, else a lookup by name."""
    binding = configured_binding(cfg, name)
    if binding is not None and binding.database_id:
        return get_database(client, binding.database_id)
    wanted = binding.database_name if binding is not None else name
    for db in list_databases(client, name=wanted):
        if db.name == wanted:
            return db
    # As locally: "did you mean …?" from the names that exist; a hint to create only when
    # the account has none (a second, empty database next to a typo helps nobody).
    names = [db.name for db in list_databases(client)]
    # The same rule as a local name that is not configured (config.did_you_mean).
    hint = configmod.did_you_mean(
        wanted,
        names,
        shown=names,
        create=f"create it with `worktime d1 create {wanted} --remote`",
    )
    raise NotFoundError(f"no remote database named {wanted!r} in this account", hint=hint)


def describe(client: Client, cfg: Config | None, name: str) -> RemoteDatabase:
    """`d1 info --remote`: like `resolve`, but always with the details only GET by id has."""
    found = resolve(client, cfg, name)
    return found if found.num_tables is not None else get_database(client, found.uuid)


def configured_binding(cfg: Config | None, name: str) -> D1Binding | None:
    if cfg is None:
        return None
    for db in cfg.d1_databases:
        if name in (db.database_name, db.binding):
            return db
    return None


def create_database(
    client: Client,
    cfg: Config,
    name: str,
    *,
    location: str | None = None,
    persist_to: Path | None = None,
    binding: str | None = None,
) -> CreateResult:
    """Create the database on Cloudflare, record its uuid, and keep the local data with it.

    The local file's name is derived from the database id, so changing database_id would
    orphan the local data: the file (and its -wal/-shm) moves to the new id's name.
    """
    from worktime_cli.d1 import validate_database_name

    validate_database_name(name)  # before anything exists on Cloudflare
    if location is not None and location not in LOCATIONS:
        raise RemoteError(
            f"unknown location {location!r}", hint=f"use one of: {', '.join(LOCATIONS)}"
        )
    body: dict[str, Any] = {"name": name}
    if location:
        body["primary_location_hint"] = location
    result = client.call("POST", client.account_path("/d1/database"), json=body).result or {}
    database = RemoteDatabase.from_api(result)
    if not database.uuid:
        raise RemoteError("Cloudflare created the database but returned no uuid")

    existing = configured_binding(cfg, name)
    root = state.root(cfg, persist_to)
    if existing is None:
        used = {b.binding for b in cfg.d1_databases} | {b.binding for b in cfg.kv_namespaces}
        chosen = binding or ("DB" if "DB" not in used else bindings.binding_from_name(name))
        # Into the selected env's section (`[env.NAME]`), as wrangler's --env writes it.
        new_cfg = editing.append_table(
            cfg,
            "d1_databases",
            {
                "binding": chosen,
                "database_name": name,
                "database_id": database.uuid,
                "migrations_dir": configmod.DEFAULT_MIGRATIONS_DIR,
            },
        )
        return CreateResult(database, chosen, new_cfg.path, None, None)

    old_path = state.d1_path(root, existing.local_id)
    new_cfg = editing.update_table(
        cfg, "d1_databases", {"binding": existing.binding}, {"database_id": database.uuid}
    )
    new_path = state.d1_path(root, new_cfg.d1(existing.binding).local_id)
    moved_from, moved_to = _move_database_file(old_path, new_path)
    return CreateResult(database, existing.binding, new_cfg.path, moved_from, moved_to)


def _move_database_file(old: Path, new: Path) -> tuple[Path | None, Path | None]:
    if old == new or not old.exists():
        return None, None
    if new.exists():
        raise RemoteError(
            f"database created and wrangler.toml updated, but {new} already exists;"
            f" the local data stays in {old}",
            hint="move or delete one of the two files yourself",
        )
    new.parent.mkdir(parents=True, exist_ok=True)
    # WAL and SHM first: a crash between moves leaves the main file (the data) in place.
    for suffix in ("-wal", "-shm"):
        sibling = old.with_name(old.name + suffix)
        if sibling.exists():
            sibling.replace(new.with_name(new.name + suffix))
    old.replace(new)
    return old, new


def delete_database(client: Client, database_id: str) -> None:
    client.call("DELETE", client.account_path(f"/d1/database/{database_id}"))
