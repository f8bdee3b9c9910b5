"""Remote Worker secrets: `/accounts/{id}/workers/scripts/{script}/secrets`.

The script is the Worker named by `name` in wrangler.toml. Cloudflare answers 10007 when
that Worker was never deployed; secrets cannot exist without it, so say exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from worktime_cli.config import Config
from worktime_cli.errors import ConfigError, RemoteError
from worktime_cli.remote.client import Client

NO_SUCH_WORKER = 10007


@dataclass(frozen=True)
class RemoteSecret:
    name: str
    type: str = "secret_text"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class PushResult:
    script: str
    uploaded: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"script": self.script, "uploaded": list(self.uploaded)}


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


def delete(client: Client, script: str, name: str) -> None:
    try:
        client.call("DELETE", _path(client, script, f"/{quote(name, safe='')}"))
    except RemoteError as exc:
        raise _worker_missing(script, exc) from None


def put_many(
    client: Client, script: str, values: Mapping[str, str] | Iterable[tuple[str, str]]
) -> PushResult:
    """`secret bulk FILE --remote` and `secret push`: one PUT per secret, in order.

    Stops at the first failure; the names already uploaded are in the error's message.
    """
    pairs = list(values.items()) if isinstance(values, Mapping) else list(values)
    done: list[str] = []
    for name, value in pairs:
        try:
            put(client, script, name, value)
        except RemoteError as exc:
            if done:
                exc.message = f"{exc.message} (already uploaded: {', '.join(done)})"
                exc.args = (exc.message,)
            raise
        done.append(name)
    return PushResult(script=script, uploaded=tuple(done))
