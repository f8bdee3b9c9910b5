"""`worktime login/whoami/logout`: the API token, verified, kept in the OS keyring.

One token per user (not per project), under the keyring service `worktime:cloudflare`.
Every keyring call runs with a timeout: a locked or hung Secret Service must give an error,
not a hang.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from worktime_cli.errors import RemoteError, SecretStoreError
from worktime_cli.remote.client import Client, resolve_token

KEYRING_SERVICE = "worktime:cloudflare"
KEYRING_USERNAME = "api_token"
KEYRING_TIMEOUT = 5.0

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


def _with_timeout(action: str, call: Callable[[], T]) -> T:
    """Run a keyring call in a daemon thread; give up after KEYRING_TIMEOUT seconds."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"keyring-{action}", daemon=True)
    thread.start()
    thread.join(KEYRING_TIMEOUT)
    if thread.is_alive():
        raise SecretStoreError(
            f"the OS keyring did not answer within {KEYRING_TIMEOUT:.0f} s ({action})",
            hint="unlock or restart your keyring (Secret Service), or set CLOUDFLARE_API_TOKEN",
        )
    if "error" in box:
        error = box["error"]
        import keyring.errors

        if isinstance(error, keyring.errors.NoKeyringError):
            raise SecretStoreError(
                "no usable OS keyring to keep the API token in",
                hint="start/unlock a Secret Service, choose a backend with PYTHON_KEYRING_BACKEND,"
                " or set CLOUDFLARE_API_TOKEN",
            ) from None
        if isinstance(error, keyring.errors.KeyringError):
            raise SecretStoreError(
                f"the OS keyring refused to {action}: {type(error).__name__}",
                hint="unlock your keyring, or set CLOUDFLARE_API_TOKEN",
            ) from None
        assert isinstance(error, BaseException)
        raise error
    return box.get("value")  # type: ignore[return-value]  # set by target() on success


def stored_token() -> str | None:
    import keyring

    return _with_timeout(
        "read the API token", lambda: keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    )


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
        raise RemoteError("no API token given", hint="paste a token from dash.cloudflare.com/profile/api-tokens")
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
    import keyring

    _with_timeout(
        "store the API token",
        lambda: keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, token),
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
    import keyring
    import keyring.errors

    def delete() -> bool:
        try:
            keyring.delete_password(KEYRING_SERVICE, KEYRING_USERNAME)
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return _with_timeout("delete the API token", delete)


def token_from_environment() -> bool:
    """Whether CLOUDFLARE_API_TOKEN overrides the stored token."""
    return bool(os.environ.get("CLOUDFLARE_API_TOKEN", "").strip())
