"""`worktime login/whoami/logout`: the API token, verified, kept in the OS keyring.

One token per user (not per project), under the keyring service `worktime:cloudflare`.
Every keyring call runs with a timeout: a locked or hung Secret Service must give an error,
not a hang.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from worktime_cli.errors import RemoteError
from worktime_cli.remote.client import Client, resolve_token

KEYRING_SERVICE = "worktime:cloudflare"
KEYRING_USERNAME = "api_token"

T = TypeVar("T")


@dataclass(frozen=True)
class TokenStatus:
    id: str
    status: str
    expires_on: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    id: str
    name: str


@dataclass(frozen=True)
class Identity:
    """What `whoami` shows: where the token comes from, its status, its accounts."""

    source: str  # "environment" | "keyring"
    token: TokenStatus
    accounts: tuple[AccountInfo, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "token_id": self.token.id,
            "status": self.token.status,
            "expires_on": self.token.expires_on,
            "accounts": [{"id": a.id, "name": a.name} for a in self.accounts],
        }


def _keyring(operation: Callable[[Any], T], what: str, **options: Any) -> T:
    # The secrets module's helper: 5 s timeout, unusable-backend and locked-keyring errors.
    from worktime_cli import secrets

    return secrets.call_with_timeout(operation, what, **options)


def stored_token() -> str | None:
    token: str | None = _keyring(
        lambda backend: backend.get_password(KEYRING_SERVICE, KEYRING_USERNAME),
        "read the API token",
    )
    return token


def verify(token: str, base_url: str | None = None) -> TokenStatus:
    """`GET /user/tokens/verify`: the token's id and status (`active`, `disabled`, `expired`)."""
    with Client(token, base_url=base_url) as client:
        return _verify(client)


def _verify(client: Client) -> TokenStatus:
    result = client.call("GET", "/user/tokens/verify").result or {}
    return TokenStatus(
        id=str(result.get("id", "")),
        status=str(result.get("status", "")),
        expires_on=result.get("expires_on"),
    )


def _accounts(client: Client) -> tuple[AccountInfo, ...]:
    try:
        return tuple(AccountInfo(a.id, a.name) for a in client.accounts())
    except RemoteError as exc:
        if exc.code in (10000, 9109, 403):
            return ()  # a token scoped without account read: still a valid login
        raise


def login(token: str, base_url: str | None = None) -> Identity:
    """Verify `token` and store it in the keyring; nothing is stored if it is not active."""
    token = token.strip()
    if not token:
        raise RemoteError(
            "no API token given", hint="paste a token from dash.cloudflare.com/profile/api-tokens"
        )
    if any(ch.isspace() for ch in token):
        raise RemoteError("an API token has no spaces or line breaks", hint="paste only the token")
    with Client(token, base_url=base_url) as client:
        status = _verify(client)
        if status.status != "active":
            raise RemoteError(
                f"the API token is {status.status or 'not active'}; nothing was stored",
                hint="create a new token at dash.cloudflare.com/profile/api-tokens",
            )
        accounts = _accounts(client)
    _keyring(
        lambda backend: backend.set_password(KEYRING_SERVICE, KEYRING_USERNAME, token),
        "store the API token",
        secret=token,
    )
    return Identity(source="keyring", token=status, accounts=accounts)


def whoami(base_url: str | None = None) -> Identity:
    """The token in use (environment first, as every command), verified, and its accounts."""
    token, source = resolve_token()
    with Client(token, base_url=base_url) as client:
        status = _verify(client)
        accounts = _accounts(client) if status.status == "active" else ()
    return Identity(source=source, token=status, accounts=accounts)


def logout() -> bool:
    """Forget the stored token; False when none was stored."""
    import keyring.errors

    def delete(backend: Any) -> bool:
        try:
            backend.delete_password(KEYRING_SERVICE, KEYRING_USERNAME)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return _keyring(delete, "delete the API token")


def token_from_environment() -> bool:
    """Whether CLOUDFLARE_API_TOKEN overrides the stored token."""
    return bool(os.environ.get("CLOUDFLARE_API_TOKEN", "").strip())
