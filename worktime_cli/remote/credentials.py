"""Who `--remote` commands act as: the API token and the account, from where wrangler looks.

The token: CLOUDFLARE_API_TOKEN, else the one `worktime login` stored in the OS keyring. The
account: `account_id` in the config, else CLOUDFLARE_ACCOUNT_ID, else (lazily, in the client)
the only account the token can see. Kept out of the HTTP client so that the client knows
nothing about the keyring, and the keyring nothing about HTTP.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from worktime_cli.errors import RemoteError

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105  # a variable name, not a secret
ACCOUNT_ENV = "CLOUDFLARE_ACCOUNT_ID"

TokenSource = Literal["environment", "keyring"]


def resolve_token() -> tuple[str, TokenSource]:
    """The token and where it came from: CLOUDFLARE_API_TOKEN, else `worktime login`'s entry."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token, "environment"
    from worktime_cli.secrets import keyring_store

    stored = keyring_store.stored_token()
    if stored:
        return stored, "keyring"
    raise RemoteError(
        "not logged in to Cloudflare",
        hint=f"run `worktime login`, or set {TOKEN_ENV}",
    )


def resolve_account_id(cfg: Config | None) -> str | None:
    """`account_id` from the config, else CLOUDFLARE_ACCOUNT_ID; None: ask the API later."""
    if cfg is not None and cfg.account_id:
        return cfg.account_id
    return os.environ.get(ACCOUNT_ENV, "").strip() or None


def token_from_environment() -> bool:
    """Whether CLOUDFLARE_API_TOKEN overrides the stored token."""
    return bool(os.environ.get(TOKEN_ENV, "").strip())
