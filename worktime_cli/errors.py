"""The one exception hierarchy. `cli.app.main()` turns these into `error: …` + a hint, exit 1.

Messages must never contain secret values: they are shown to the user and may be logged.
"""

from __future__ import annotations


class WorktimeError(Exception):
    """A user-facing failure: one line of message, optionally one line of hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(WorktimeError):
    """The command line itself is wrong (conflicting or misplaced options): exit 2, as Click."""

    exit_code = 2


class Interrupted(WorktimeError):
    """Ctrl+C (SIGINT) while a command ran: exit 130, as a shell reports it."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")


class ConfigError(WorktimeError):
    """wrangler.toml is missing, unparsable or inconsistent."""


class NotFoundError(WorktimeError):
    """A named thing (database, namespace, key, secret, migration) does not exist."""


class SQLError(WorktimeError):
    """A statement failed or was refused, with its location when known."""


class LimitError(WorktimeError):
    """A value breaks one of Cloudflare's documented limits."""


class LockedError(WorktimeError):
    """Another process holds the database or store."""


class SecretStoreError(WorktimeError):
    """The OS keyring is unusable, locked or hung."""


class RemoteError(WorktimeError):
    """Cloudflare's API answered with an error (code and message) or not at all."""

    def __init__(self, message: str, hint: str | None = None, *, code: int | None = None) -> None:
        super().__init__(message, hint)
        self.code = code
