"""What a remote write is aimed at: said before it happens and carried in `--json` output.

A write to the wrong database is the worst mistake this tool can make (`--env` forgotten, or
a stale `CLOUDFLARE_ENV`), so every write to Cloudflare names its target first: the resource,
its id, the environment whose bindings chose it, and the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["d1_database", "kv_namespace"]
_SHOWN = {"d1_database": "D1 database", "kv_namespace": "KV namespace"}


@dataclass(frozen=True)
class RemoteWrite:
    """The remote resource a command is about to change."""

    kind: Kind
    name: str
    id: str | None  # None when it does not exist yet (create)
    env: str | None  # None: the config's top level
    account: str

    def line(self) -> str:
        """The one line said on stderr before the write (and before any confirmation)."""
        ident = f"id {self.id}" if self.id else "new"
        env = f"env {self.env}" if self.env else "top-level config (no --env)"
        return f"target: {_SHOWN[self.kind]} {self.name} ({ident}), {env}, account {self.account}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "id": self.id,
            "env": self.env,
            "account": self.account,
        }


def with_target(data: Any, target: RemoteWrite | None) -> Any:
    """`data` (a result's JSON) with `"target"` added: to the object, or to each item of a
    list (wrangler's `execute --json` is a list, one item per statement, kept as such)."""
    if target is None:
        return data
    if isinstance(data, dict):
        return {**data, "target": target.to_json()}
    if isinstance(data, list):
        return [with_target(item, target) for item in data]
    return data
