"""A secret store: the OS keyring for local development, or a deployed Worker's secrets.

`worktime_cli.secrets.stores.KeyringSecrets` and `worktime_cli.remote.secrets.RemoteSecrets` both
implement `SecretStore` and return the results below, so `worktime secret …` never asks which
one it has. What both must check (a name's shape, a value's size, a bulk file's entries) is
checked here, once, before either touches its storage; the "no such secret" error is built
here too, so the same mistake reads the same locally and remotely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from worktime_cli.errors import LimitError, NotFoundError, WorktimeError

MAX_VALUE_BYTES = 5 * 1024  # a Worker secret's documented size limit
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Store = Literal["keyring", "worker"]


@dataclass(frozen=True)
class SecretTarget:
    """Where secrets go: a keyring service (`worktime:<name>:<project id>`) or a Worker (its script)."""

    store: Store
    location: str | None  # None: the project has no `name`, so no keyring service either

    @property
    def place(self) -> str:
        if self.store == "worker":
            return f"the Worker {self.location}"
        return "the OS keyring" + (f" ({self.location})" if self.location else "")

    @property
    def into(self) -> str:
        """`place` with its preposition: "in the OS keyring (…)", "on the Worker …"."""
        return ("on " if self.store == "worker" else "in ") + self.place

    @property
    def list_command(self) -> str:
        return "worktime secret list" + (" --remote" if self.store == "worker" else "")

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "location": self.location}


@dataclass(frozen=True)
class SecretEntry:
    """One name and where its value comes from; never the value."""

    name: str
    source: (
        str | None
    )  # the layer that wins ("vars", "keyring", ".dev.vars", "worker"); None: missing
    required: bool = False
    defined_in: tuple[str, ...] = ()  # every layer defining it, lowest precedence first
    type: str | None = None  # Cloudflare's binding type ("secret_text"); None locally

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "required": self.required,
            "defined_in": list(self.defined_in),
            "type": self.type,
        }


@dataclass(frozen=True)
class SecretList:
    target: SecretTarget
    secrets: tuple[SecretEntry, ...]
    missing: tuple[str, ...] = ()  # required names with no value anywhere
    keyring_error: str | None = None  # the keyring could not be read; the other layers were
    warnings: tuple[str, ...] = ()
    project: str | None = None  # the config file these values belong to (its resolved path)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.secrets if entry.source is not None)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.target.to_json(),
            "secrets": [entry.to_json() for entry in self.secrets],
            "missing": list(self.missing),
            "keyring_error": self.keyring_error,
            "warnings": list(self.warnings),
            "project": self.project,
        }


@dataclass(frozen=True)
class SecretPut:
    target: SecretTarget
    name: str
    created: bool  # False when an existing value was replaced
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.target.to_json(),
            "created": self.created,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class SecretDeleted:
    target: SecretTarget
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.target.to_json(), "deleted": True}


@dataclass(frozen=True)
class SecretBulk:
    target: SecretTarget
    stored: tuple[str, ...]
    deleted: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.target.to_json(), "stored": list(self.stored), "deleted": list(self.deleted)}


class SecretStore(Protocol):
    """What `worktime secret …` needs from a store; local and remote alike."""

    @property
    def target(self) -> SecretTarget: ...

    def names(self) -> SecretList:
        """Every name the store knows and where it resolves from (never values)."""
        ...

    def exists(self, name: str) -> bool: ...

    def put(self, name: str, value: str) -> SecretPut:
        """Create or replace one secret (`value` is normalised with `normalise_value`)."""
        ...

    def delete(self, name: str) -> SecretDeleted:
        """Delete one secret; `missing_secret(...)` when there is none."""
        ...

    def bulk(self, changes: Mapping[str, str | None]) -> SecretBulk:
        """Many puts (str) and deletes (None), all validated before the first write."""
        ...


# --- the checks both stores make -------------------------------------------------------------


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise WorktimeError(
            f"invalid secret name {name!r}",
            hint="names start with a letter or _ and contain only letters, digits and _",
        )
    return name


def normalise_value(name: str, value: str) -> str:
    """Trim trailing whitespace (as `wrangler secret put`), refuse empty or oversized values."""
    value = value.rstrip()
    if not value:
        raise WorktimeError(
            f"refusing to store an empty value for {name}",
            hint="type the value at the prompt or pipe it on standard input",
        )
    size = len(value.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise LimitError(
            f"the value for {name} is {size} bytes; a Worker secret is at most {MAX_VALUE_BYTES} bytes (5 KiB)",
        )
    return value


def clean_changes(changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """A bulk change set with every name checked and every value normalised, or an error."""
    return {
        validate_name(name): None if value is None else normalise_value(name, value)
        for name, value in changes.items()
    }


def missing_secret(name: str, target: SecretTarget) -> NotFoundError:
    return NotFoundError(
        f"no secret {name} {target.into}", hint=f"see the names with `{target.list_command}`"
    )
