"""`worktime login/whoami/logout`: the API token, verified, kept in the OS keyring.

One token per user (not per project), under the keyring service `worktime:cloudflare`
(`keyring_store` holds the entry, with its timeout: a locked or hung Secret Service gives an
error, not a hang). Which token is in use is `remote.credentials`' answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktime_cli.errors import RemoteError
from worktime_cli.remote.client import Client
from worktime_cli.remote.credentials import TokenSource, resolve_token, token_from_environment
from worktime_cli.secrets import keyring_store

KEYRING_SERVICE = keyring_store.TOKEN_SERVICE
KEYRING_USERNAME = keyring_store.TOKEN_USERNAME

__all__ = [
    "AccountInfo",
    "Identity",
    "LogoutResult",
    "TokenStatus",
    "login",
    "logout",
    "stored_token",
    "token_from_environment",
    "verify",
    "whoami",
]


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

    source: TokenSource
    token: TokenStatus
    accounts: tuple[AccountInfo, ...]
    overridden: bool = False  # CLOUDFLARE_API_TOKEN is set and wins over the stored token

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "token_id": self.token.id,
            "status": self.token.status,
            "expires_on": self.token.expires_on,
            "accounts": [{"id": a.id, "name": a.name} for a in self.accounts],
        }


@dataclass(frozen=True)
class LogoutResult:
    removed: bool  # False: no token was stored
    overridden: bool = False  # CLOUDFLARE_API_TOKEN is still set

    def to_json(self) -> dict[str, object]:
        return {"removed": self.removed}


def stored_token() -> str | None:
    return keyring_store.stored_token()


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
    keyring_store.store_token(token)
    return Identity(
        source="keyring", token=status, accounts=accounts, overridden=token_from_environment()
    )


def whoami(base_url: str | None = None) -> Identity:
    """The token in use (environment first, as every command), verified, and its accounts."""
    token, source = resolve_token()
    with Client(token, base_url=base_url) as client:
        status = _verify(client)
        accounts = _accounts(client) if status.status == "active" else ()
    return Identity(source=source, token=status, accounts=accounts)


def logout() -> LogoutResult:
    """Forget the stored token (`removed` False when none was stored)."""
    return LogoutResult(removed=keyring_store.forget_token(), overridden=token_from_environment())
