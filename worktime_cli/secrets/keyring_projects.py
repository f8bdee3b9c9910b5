"""Where a project's secrets live in the OS keyring, and carrying them over to a new home.

A project's secrets: service `worktime:<name>:<project id>` (the Worker's name, so `<name>-<env>`
under `--env`, and the first 12 hex digits of the SHA-256 of the config file's resolved path),
username = the secret's name; keyring has no way to enumerate entries, so the set of names lives
in one more entry of the same service (`worktime.index`, a JSON list of names, never values;
the dot cannot collide with a secret name, which matches `[A-Za-z_]\\w*`).

Why the path: two checkouts whose Workers share a name (two clones of one repository, a
fork, a template) must not read or overwrite each other's values, and the path is the one
identity a checkout has that nothing in it can copy (an id kept in a file travels with
`cp -r`). Moving or renaming the folder therefore starts an empty store; `worktime secret
adopt --from OLD_PATH` carries the values over (`adopt`).

Entries written before this scheme (service `worktime:<name>`, shared by every checkout of a
Worker with that name) are copied into a checkout's own service the first time it reads its
secrets, and left where they are: whether another checkout still needs them is not knowable
(`_carry_over_legacy`).

Every entry is read and written through `keyring_store`, the one call path to the keyring.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, SecretStoreError, WorktimeError
from worktime_cli.secrets.keyring_store import (
    INDEX_USERNAME,
    add_notice,
    call_with_timeout,
    delete,
    get,
    quietly,
    set_value,
)

if TYPE_CHECKING:
    from pathlib import Path

    from worktime_cli.project.config import Config

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def service_name(cfg: Config) -> str:
    """The keyring service for a project: `worktime:<name>:<project id>` (see the module doc).

    Under `--env NAME` the config's name is the environment's Worker (`<name>-<env>`, or the
    env's own `name`), so every environment has its own secrets, as on Cloudflare.
    """
    return f"{legacy_service_name(cfg)}:{project_id(cfg.path)}"


def legacy_service_name(cfg: Config) -> str:
    """The service worktime used before entries were keyed by checkout: `worktime:<name>`."""
    if not cfg.name:
        raise ConfigError(
            f"{cfg.path} has no `name`, which names this project's secrets in the keyring",
            hint=f'add a line like `name = "worktime-backend"` at the top of {cfg.path.name}',
        )
    return f"worktime:{cfg.name}"


def project_id(config_path: Path) -> str:
    """A stable id of one checkout: the config file's resolved path, hashed (never shown whole)."""
    resolved = str(config_path.resolve())
    return hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def project_service(cfg: Config) -> str:
    """`service_name(cfg)`, after carrying over entries from the shared legacy service."""
    service = service_name(cfg)
    _carry_over_legacy(legacy_service_name(cfg), service)
    return service


def _carry_over_legacy(legacy: str, service: str) -> None:
    """Copy the legacy service's secrets into `service` the first time this checkout looks.

    "First time" is "`service` has no index yet": once this checkout has written its own index
    (even an empty one, after deleting everything), the legacy entries are never read again.
    The legacy entries stay: any other checkout of a Worker with the same name may have
    written them and may still need them, and nothing here can tell.
    """
    if get(service, INDEX_USERNAME, f"read {INDEX_USERNAME}") is not None:
        return
    names = read_index(legacy)
    if not names:
        return
    copied: list[str] = []
    try:
        for name in names:
            value = get(legacy, name, f"read {name}")
            if value is None:
                continue  # deleted behind our back: nothing to carry
            set_value(service, name, value, f"copy {name}")
            copied.append(name)
        write_index(service, copied)
    except BaseException:  # Ctrl+C too: no copied value without an index that shows it
        for name in copied:
            quietly(lambda name=name: delete(service, name, f"delete {name}"))  # type: ignore[misc]  # the default binds the loop variable
        raise
    add_notice(
        f"copied {len(copied)} secret(s) ({', '.join(copied)}) from the keyring service "
        f"{legacy}, which every checkout of a Worker with this name shared, into this "
        f"checkout's own ({service}); the shared entries are left for other checkouts"
    )


@dataclass(frozen=True)
class Adopted:
    """What `adopt` carried from an old checkout's service into this one's."""

    source: str  # the old service
    target: str  # this checkout's service
    copied: tuple[str, ...]
    kept: tuple[str, ...]  # already set here: this checkout's value wins
    removed_old: bool  # the old entries were deleted (the old config is gone: a move)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "copied": list(self.copied),
            "kept": list(self.kept),
            "removed_old": self.removed_old,
        }


def adopt(cfg: Config, old_config: Path) -> Adopted:
    """Carry the secrets a checkout kept at `old_config` (before a move) into `cfg`'s service.

    Names already set here keep their value. The old entries are deleted only when nothing
    exists at `old_config` any more (the folder was moved or renamed); a copy that still
    exists keeps its secrets.
    """
    service = project_service(cfg)
    source = f"{legacy_service_name(cfg)}:{project_id(old_config)}"
    if source == service:
        raise WorktimeError(
            f"{old_config} is this checkout's own config",
            hint="give the path the project had before it was moved",
        )
    old_names = read_index(source)
    if not old_names:
        raise WorktimeError(
            f"no secrets in the keyring for {cfg.name} at {old_config}",
            hint="give the config file's path as it was before the move "
            f"(e.g. /old/folder/{cfg.path.name})",
        )
    index = read_index(service)
    copied: list[str] = []
    kept: list[str] = []
    try:
        for name in old_names:
            if name in index:
                kept.append(name)
                continue
            value = get(source, name, f"read {name}")
            if value is None:
                continue
            set_value(service, name, value, f"copy {name}")
            copied.append(name)
        if copied:
            write_index(service, [*index, *copied])
    except BaseException:  # all or nothing, Ctrl+C too
        for name in copied:
            quietly(lambda name=name: delete(service, name, f"delete {name}"))  # type: ignore[misc]  # the default binds the loop variable
        raise
    removed = not old_config.exists()
    if removed:
        for name in old_names:
            delete(source, name, f"delete {name}")
        delete(source, INDEX_USERNAME, f"delete {INDEX_USERNAME}")
    return Adopted(source, service, tuple(copied), tuple(kept), removed)


def read_index(service: str) -> list[str]:
    """The secret names recorded for `service` (values are not read)."""
    raw = get(service, INDEX_USERNAME, f"read {INDEX_USERNAME}")
    if raw is None:
        return []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, list):
        raise SecretStoreError(
            f"the list of secret names in the keyring ({service}, {INDEX_USERNAME}) is damaged",
            hint=f"delete the keyring entry {INDEX_USERNAME!r} of {service!r}, then `worktime secret put` each secret again",
        )
    return [name for name in data if isinstance(name, str) and NAME_PATTERN.match(name)]


def write_index(service: str, names: list[str]) -> None:
    payload = json.dumps(sorted(set(names)))
    call_with_timeout(
        lambda backend: backend.set_password(service, INDEX_USERNAME, payload),
        "update the list of secret names",
    )


def read_all(cfg: Config) -> dict[str, str]:
    """Every indexed secret that still has a value (one deleted behind our back is skipped)."""
    service = project_service(cfg)
    values: dict[str, str] = {}
    for name in sorted(read_index(service)):
        value = get(service, name, f"read {name}")
        if value is not None:
            values[name] = value
    return values
