"""The GitHub tokens the Worker keeps in KV: where they live, which are expiring, orphaned, missing.

Layout: one key per user, `<prefix><github_user_id>`, written by the Worker with a 7-day TTL.
The prefix and the namespace are one setting shared with the Worker, kept in wrangler.toml's
`[vars]` (the Worker reads the same names from `env`, and wrangler knows `[vars]`, so it warns
about nothing):

    [vars]
    GITHUB_TOKEN_KV_PREFIX = "github_token:"   # default
    GITHUB_TOKEN_KV_BINDING = "KV"             # default: KV, else the only namespace

Token values are never read, printed or logged here: listing uses key names and expirations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worktime_cli import clock
from worktime_cli.admin.targets import Database, Namespace, all_keys
from worktime_cli.errors import ConfigError
from worktime_cli.project.config import Config

DEFAULT_PREFIX = "github_token:"
PREFIX_VAR = "GITHUB_TOKEN_KV_PREFIX"
BINDING_VAR = "GITHUB_TOKEN_KV_BINDING"
TTL_SECONDS = 7 * 24 * 3600
EXPIRING_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Layout:
    binding: str
    prefix: str

    def key(self, github_user_id: str) -> str:
        return f"{self.prefix}{github_user_id}"


def layout(config: Config) -> Layout:
    """The token namespace and key prefix from wrangler.toml's `[vars]` (or the defaults)."""
    variables = config.data.get("vars")
    variables = variables if isinstance(variables, dict) else {}
    prefix = variables.get(PREFIX_VAR, DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(f"[vars] {PREFIX_VAR} in {config.path.name} must be a non-empty string")
    binding = variables.get(BINDING_VAR)
    bindings = [ns.binding for ns in config.kv_namespaces]
    if binding is None:
        if "KV" in bindings:
            binding = "KV"
        elif len(bindings) == 1:
            binding = bindings[0]
        else:
            # With none configured, naming one in [vars] would not help: create it.
            raise ConfigError(
                f"cannot tell which KV namespace holds the GitHub tokens ({len(bindings)} configured)",
                hint="create one: `worktime kv namespace create KV`"
                if not bindings
                else f'set [vars] {BINDING_VAR} = "BINDING" in {config.path.name} '
                f"(one of {', '.join(bindings)})",
            )
    if not isinstance(binding, str):
        raise ConfigError(f"[vars] {BINDING_VAR} in {config.path.name} must be a string")
    return Layout(binding=binding, prefix=prefix)


@dataclass(frozen=True)
class Token:
    """One token key: whose it is and when it expires (never its value)."""

    key: str
    github_user_id: str
    login: str | None  # None: an orphan (no user row)
    expiration: int | None
    now: int

    @property
    def seconds_left(self) -> int | None:
        return None if self.expiration is None else self.expiration - self.now

    @property
    def state(self) -> str:
        left = self.seconds_left
        if left is None:
            return "no-expiry"
        if left <= 0:
            return "expired"
        if left <= EXPIRING_SECONDS:
            return "expiring"
        return "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "github_user_id": self.github_user_id,
            "login": self.login,
            "orphan": self.login is None,
            "expiration": self.expiration,
            "seconds_left": self.seconds_left,
            "state": self.state,
        }


@dataclass(frozen=True)
class TokenList:
    binding: str
    prefix: str
    tokens: tuple[Token, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "prefix": self.prefix,
            "tokens": [t.to_json() for t in self.tokens],
        }


@dataclass(frozen=True)
class Audit:
    """What needs attention: expired (not yet purged), expiring in 24 h, orphans, users without."""

    tokens: TokenList
    users_without_token: tuple[str, ...]

    def _with(self, state: str) -> list[Token]:
        return [t for t in self.tokens.tokens if t.state == state]

    @property
    def expired(self) -> list[Token]:
        return self._with("expired")

    @property
    def expiring(self) -> list[Token]:
        return self._with("expiring")

    @property
    def orphans(self) -> list[Token]:
        return [t for t in self.tokens.tokens if t.login is None]

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.tokens.binding,
            "prefix": self.tokens.prefix,
            "tokens": len(self.tokens.tokens),
            "expired": [t.to_json() for t in self.expired],
            "expiring_within_24h": [t.to_json() for t in self.expiring],
            "orphans": [t.to_json() for t in self.orphans],
            "users_without_token": list(self.users_without_token),
        }


def _users(db: Database) -> dict[str, str]:
    rows = db.query("SELECT github_user_id, github_username FROM users")
    return {str(r["github_user_id"]): str(r["github_username"]) for r in rows}


def list_tokens(
    db: Database, namespace: Namespace, where: Layout, *, now: float | None = None
) -> TokenList:
    stamp = int(clock.timestamp() if now is None else now)
    users = _users(db)
    tokens = tuple(
        Token(
            key=k.name,
            github_user_id=k.name[len(where.prefix) :],
            login=users.get(k.name[len(where.prefix) :]),
            expiration=k.expiration,
            now=stamp,
        )
        for k in all_keys(namespace, where.prefix)
    )
    return TokenList(where.binding, where.prefix, tokens)


def audit(db: Database, namespace: Namespace, where: Layout, *, now: float | None = None) -> Audit:
    listed = list_tokens(db, namespace, where, now=now)
    with_token = {t.github_user_id for t in listed.tokens if t.state != "expired"}
    without = tuple(
        sorted((login for gid, login in _users(db).items() if gid not in with_token), key=str.lower)
    )
    return Audit(listed, without)


def token_expiration(namespace: Namespace, key: str) -> tuple[bool, int | None]:
    """(present, expiration) of one key, from a listing (the value is never fetched)."""
    for info in namespace.page(prefix=key, limit=10).keys:
        if info.name == key:
            return True, info.expiration
    return False, None


@dataclass(frozen=True)
class Revoked:
    login: str
    key: str
    existed: bool

    def to_json(self) -> dict[str, Any]:
        return {"login": self.login, "key": self.key, "deleted": self.existed}


def revoke(namespace: Namespace, where: Layout, login: str, github_user_id: str) -> Revoked:
    key = where.key(github_user_id)
    present, _ = token_expiration(namespace, key)
    if present:
        namespace.delete(key)
    return Revoked(login=login, key=key, existed=present)


def keys_of(tokens: Sequence[Token]) -> list[str]:
    return [t.key for t in tokens]
