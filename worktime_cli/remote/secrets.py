"""Remote Worker secrets: `/accounts/{id}/workers/scripts/{script}/secrets`.

The script is the Worker named by `name` in wrangler.toml (`<name>-<env>` under `--env`, as
wrangler). Cloudflare answers 10007 when that Worker was never deployed; secrets cannot exist
without it, so say exactly that.

`RemoteSecrets(client, config)` is the remote `SecretStore`: the same checks (from
`targets.secrets`) run before any request, and it returns the same results as the keyring.

Many secrets at once (`secret bulk --remote`, `secret push`) go as ONE change of the Worker's
settings, as `wrangler secret bulk` sends them: the current bindings are read, then written
back with the new secrets set and the deleted ones left out. Two round trips whatever the
count, one new Worker version, and all or nothing like the keyring. Not one PUT per secret
in parallel: Cloudflare's single-secret endpoint does not take concurrent writes to one
Worker (they queue, then time out; cloudflare/wrangler-action#255 made them sequential).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from worktime_cli.errors import ConfigError, RemoteError
from worktime_cli.remote.client import Client
from worktime_cli.targets.secrets import (
    SecretBulk,
    SecretDeleted,
    SecretEntry,
    SecretList,
    SecretPut,
    SecretTarget,
    clean_changes,
    missing_secret,
    normalise_value,
    validate_name,
)

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

NO_SUCH_WORKER = 10007
NO_SUCH_SECRET = 10056
SOURCE_WORKER = "worker"


@dataclass(frozen=True)
class RemoteSecret:
    name: str
    type: str = "secret_text"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type}


def script_name(cfg: Config) -> str:
    if not cfg.name:
        raise ConfigError(
            f"{cfg.path.name} has no `name`: the Worker whose secrets to manage",
            hint='add name = "<worker name>" at the top of wrangler.toml',
        )
    return cfg.name


def _path(client: Client, script: str, rest: str = "") -> str:
    return client.account_path(f"/workers/scripts/{quote(script, safe='')}/secrets{rest}")


def _worker_missing(script: str, exc: RemoteError) -> RemoteError:
    if exc.code != NO_SUCH_WORKER:
        return exc
    return RemoteError(
        f"the Worker {script!r} does not exist on this account yet ({exc.code})",
        hint="deploy the Worker first (`wrangler deploy`), then set its secrets",
        code=exc.code,
    )


def put(client: Client, script: str, name: str, value: str) -> RemoteSecret:
    """Create or replace one secret. The value goes in the body only, never in a message."""
    body = {"name": name, "text": value, "type": "secret_text"}
    try:
        result = client.call("PUT", _path(client, script), json=body).result or {}
    except RemoteError as exc:
        raise _worker_missing(script, exc) from None
    return RemoteSecret(
        name=str(result.get("name", name)), type=str(result.get("type", "secret_text"))
    )


def list_secrets(client: Client, script: str) -> list[RemoteSecret]:
    try:
        result = client.call("GET", _path(client, script)).result or []
    except RemoteError as exc:
        raise _worker_missing(script, exc) from None
    return [RemoteSecret(name=str(i.get("name", "")), type=str(i.get("type", ""))) for i in result]


def settings_bindings(client: Client, script: str) -> list[dict[str, Any]]:
    """The Worker's bindings as its settings list them (secrets by name and type only)."""
    path = client.account_path(f"/workers/scripts/{quote(script, safe='')}/settings")
    try:
        result = client.call("GET", path).result or {}
    except RemoteError as exc:
        raise _worker_missing(script, exc) from None
    bindings = result.get("bindings") if isinstance(result, dict) else None
    if not isinstance(bindings, list):
        raise RemoteError(f"unexpected settings answer for the Worker {script!r}")
    return [b for b in bindings if isinstance(b, dict) and isinstance(b.get("name"), str)]


def replace_secrets(
    client: Client,
    script: str,
    bindings: list[dict[str, Any]],
    changes: Mapping[str, str | None],
) -> None:
    """Write the bindings back with `changes` applied: one PATCH, applied whole or not at all.

    A binding sent as its type and name only keeps what it has (wrangler's "inherit"); a
    binding left out is removed. The values travel in the multipart body only.
    """
    keep = [
        {"type": b.get("type"), "name": b["name"]}
        for b in bindings
        if not (b.get("type") == "secret_text" and b["name"] in changes)
    ]
    upserts = [
        {"type": "secret_text", "name": name, "text": value}
        for name, value in changes.items()
        if value is not None
    ]
    settings = json.dumps({"bindings": keep + upserts}).encode()
    path = client.account_path(f"/workers/scripts/{quote(script, safe='')}/settings")
    try:
        # Setting the same bindings twice is the same end state: safe to retry on 5xx.
        client.call(
            "PATCH",
            path,
            files={"settings": (None, settings, "application/json")},
            idempotent=True,
        )
    except RemoteError as exc:
        error = _worker_missing(script, exc)
        raise RemoteError(
            f"{error.message} (nothing was changed: the secrets go in one request)",
            error.hint,
            code=error.code,
        ) from None


def delete(client: Client, script: str, name: str) -> None:
    try:
        client.call("DELETE", _path(client, script, f"/{quote(name, safe='')}"))
    except RemoteError as exc:
        raise _worker_missing(script, exc) from None


class RemoteSecrets:
    """The deployed Worker's secrets (`SecretStore`), through one API client."""

    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config

    def __repr__(self) -> str:
        return f"RemoteSecrets({self.config.path})"

    @property
    def script(self) -> str:
        return script_name(self.config)

    @property
    def target(self) -> SecretTarget:
        return SecretTarget("worker", self.script)

    def names(self) -> SecretList:
        """The Worker's secrets; the config's required names it lacks are `missing`."""
        from worktime_cli.secrets.environment import required_names

        found = list_secrets(self.client, self.script)
        required, _source = required_names(self.config, self.config.env)
        present = {secret.name for secret in found}
        entries = [
            SecretEntry(
                name=secret.name,
                source=SOURCE_WORKER,
                required=secret.name in required,
                defined_in=(SOURCE_WORKER,),
                type=secret.type,
            )
            for secret in found
        ]
        missing = tuple(name for name in required if name not in present)
        entries += [SecretEntry(name=name, source=None, required=True) for name in missing]
        return SecretList(
            target=self.target,
            secrets=tuple(sorted(entries, key=lambda entry: entry.name)),
            missing=missing,
            project=str(self.config.path.resolve()),
        )

    def exists(self, name: str) -> bool:
        validate_name(name)
        return any(secret.name == name for secret in list_secrets(self.client, self.script))

    def put(self, name: str, value: str) -> SecretPut:
        validate_name(name)
        value = normalise_value(name, value)
        script = self.script
        # One GET first, to say "stored" or "replaced" as the keyring does (and to learn that
        # the Worker is missing before the value is sent anywhere).
        existed = any(secret.name == name for secret in list_secrets(self.client, script))
        stored = put(self.client, script, name, value)
        return SecretPut(self.target, stored.name, created=not existed)

    def delete(self, name: str) -> SecretDeleted:
        validate_name(name)
        try:
            delete(self.client, self.script, name)
        except RemoteError as exc:
            if exc.code == NO_SUCH_SECRET:
                raise missing_secret(name, self.target) from None
            raise
        return SecretDeleted(self.target, name)

    def bulk(self, changes: Mapping[str, str | None]) -> SecretBulk:
        """Puts and deletes as one settings change (all or nothing); deleting an absent name
        is a no-op. Two requests, however many secrets: read the bindings, write them back.
        """
        clean = clean_changes(changes)
        script = self.script
        bindings = settings_bindings(self.client, script)
        present = {b["name"] for b in bindings if b.get("type") == "secret_text"}
        stored = tuple(name for name, value in clean.items() if value is not None)
        deleted = tuple(name for name, value in clean.items() if value is None and name in present)
        if stored or deleted:
            replace_secrets(
                self.client,
                script,
                bindings,
                {n: v for n, v in clean.items() if n in stored or n in deleted},
            )
        return SecretBulk(self.target, stored, deleted)
