"""Remote KV namespaces of the account: list, create (and bind in wrangler.toml, keeping the
local data's id) and delete, under /accounts/{id}/storage/kv/namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli.project import editing
from worktime_cli.project.config import Config
from worktime_cli.remote.client import Client


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


def ns_path(client: Client, namespace_id: str, rest: str = "") -> str:
    return client.account_path(f"/storage/kv/namespaces/{namespace_id}{rest}")


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
    client.call("DELETE", ns_path(client, namespace_id))
