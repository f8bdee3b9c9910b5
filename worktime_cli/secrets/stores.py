"""Secret values in the operating system's keyring: the local `SecretStore`.

One keyring service per checkout and environment (`worktime:<Worker name>:<project id>`, the
id a hash of the config's path, so two checkouts of one Worker never share values), one entry
per secret, and an index of the names (see `keyring_projects`, which owns the layout, and
`keyring_store`, the one keyring call path with its timeout and error translation).

`put` and `bulk` are all-or-nothing, Ctrl+C included: a value is never left where `list`
would not show it, and a failed bulk restores what was there. Values never reach a message:
errors name the secret, not its value.

`KeyringSecrets(config, env)` is what `worktime secret …` gets from the CLI context; the
module functions (`put`, `delete`, `names`, `read_all`, `bulk`) stay for callers that hold
only a config.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import WorktimeError
from worktime_cli.secrets import keyring_projects, keyring_store
from worktime_cli.secrets.keyring_projects import project_service, service_name
from worktime_cli.secrets.keyring_store import INDEX_USERNAME, NO_BACKEND_HINT
from worktime_cli.targets.secrets import (
    MAX_VALUE_BYTES,
    NAME_PATTERN,
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
    from worktime_cli.secrets.environment import Environment

# Kept importable from here: older callers and tests use these names.
__all__ = [
    "INDEX_USERNAME",
    "MAX_BULK_BYTES",
    "MAX_VALUE_BYTES",
    "NAME_PATTERN",
    "NO_BACKEND_HINT",
    "KeyringSecrets",
    "PushPlan",
    "SecretPush",
    "bulk",
    "decode_input",
    "delete",
    "exists",
    "names",
    "normalise_value",
    "parse_bulk",
    "plan_push",
    "put",
    "read_all",
    "service_name",
    "validate_name",
]


class KeyringSecrets:
    """The project's secrets in the OS keyring, for one environment (`SecretStore`).

    `names()` lists the whole local environment a Worker would see (vars, keyring, dotenv
    files) and where each name resolves from, which is what `secret list` shows locally.
    """

    def __init__(self, config: Config, env: str | None = None) -> None:
        self.config = config
        self.env = env

    def __repr__(self) -> str:
        return f"KeyringSecrets({self.config.path}, env={self.env!r})"

    @property
    def target(self) -> SecretTarget:
        try:
            service: str | None = service_name(self.config)
        except WorktimeError:
            service = None  # no `name` in the config: names() reports it as keyring_error
        return SecretTarget("keyring", service)

    def names(self) -> SecretList:
        from worktime_cli.secrets import environment

        resolved = environment.resolve(self.config, env=self.env)
        return dataclasses.replace(
            listing(resolved, self.target), project=str(self.config.path.resolve())
        )

    def exists(self, name: str) -> bool:
        return exists(self.config, name)

    def put(self, name: str, value: str) -> SecretPut:
        result = put(self.config, name, value)
        notices = keyring_store.take_notices()  # an unencrypted backend the user named
        return dataclasses.replace(result, warnings=notices + self._overridden(name))

    def delete(self, name: str) -> SecretDeleted:
        return delete(self.config, name)

    def bulk(self, changes: Mapping[str, str | None]) -> SecretBulk:
        return bulk(self.config, changes)

    def _overridden(self, name: str) -> tuple[str, ...]:
        # A dotenv file outranks the keyring locally: a put that `dev` will not see is a trap.
        from worktime_cli.project import devvars

        try:
            for path in reversed(devvars.dotenv_files(self.config.root, self.env)):
                if name in devvars.read_dotenv(path):
                    return (f"{name} is also set in {path.name}, which takes precedence locally",)
        except WorktimeError:
            pass  # a broken .dev.vars is reported by the commands that read it
        return ()


def listing(resolved: Environment, target: SecretTarget) -> SecretList:
    """The resolved local environment as a `SecretList` (names and sources, never values)."""
    required = set(resolved.required)
    entries = tuple(
        SecretEntry(
            name=name,
            source=resolved.sources.get(name),
            required=name in required,
            defined_in=resolved.layers.get(name, ()),
        )
        for name in sorted(set(resolved.sources) | set(resolved.missing))
    )
    return SecretList(
        target=target,
        secrets=entries,
        missing=resolved.missing,
        keyring_error=resolved.keyring_error,
        warnings=resolved.warnings,
    )


# --- bulk files (no keyring needed) --------------------------------------------------------

# A Worker has at most 128 secrets of 5 KiB each (plus names and quoting): anything larger
# than this is not a secrets file, and reading it whole is how /dev/zero filled memory.
MAX_BULK_BYTES = 1024 * 1024


def decode_input(data: bytes, source: str) -> str:
    """Strict UTF-8, for a value or a bulk file; the error never quotes the bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorktimeError(
            f"{source} is not UTF-8 text (byte {exc.start + 1} is not valid UTF-8)",
            hint="secret values are text; encode binary values (e.g. base64) first",
        ) from None


def _valid_unicode(text: str) -> bool:
    # A JSON `"\ud800"` escape decodes to a lone surrogate, which no keyring or API can store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_bulk(text: str, source: str) -> dict[str, str | None]:
    """A bulk file: a JSON object `{"NAME": "value" | null}` or a .env file; all validated.

    `null` means delete. Nothing is stored here: a bad entry anywhere fails the whole file
    before any store is touched.
    """
    changes: dict[str, str | None] = {}
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            # The position, not exc's message: that quotes the document, i.e. values.
            raise WorktimeError(
                f"{source}:{exc.lineno}:{exc.colno}: invalid JSON",
                hint='expected {"NAME": "value" | null}',
            ) from None
        except RecursionError:
            raise WorktimeError(
                f"{source}: JSON nested too deeply",
                hint='expected {"NAME": "value" | null}',
            ) from None
        if not isinstance(data, dict):
            raise WorktimeError(f"{source}: expected a JSON object of names to values")
        for name, value in data.items():
            _validate_name_at(name, source)
            if value is None:
                changes[name] = None
            elif isinstance(value, str):
                if not _valid_unicode(value):
                    raise WorktimeError(
                        f"{source}: the value for {name} holds a lone surrogate (\\ud800-\\udfff), "
                        "which is not text"
                    )
                changes[name] = normalise_value(name, value)
            else:
                raise WorktimeError(f"{source}: {name} must be a string, or null to delete it")
        return changes
    from worktime_cli.project.devvars import parse_dotenv

    for entry in parse_dotenv(text, source):
        _validate_name_at(entry.key, f"{source}:{entry.line}")
        if entry.value is None:
            # Not even the "name": a bare line is as likely a pasted value as a name.
            raise WorktimeError(
                f"{source}:{entry.line}: a line without '='", hint="expected NAME=value"
            )
        changes[entry.key] = normalise_value(entry.key, entry.value)
    return changes


def _validate_name_at(name: str, where: str) -> None:
    # Names read from a file are not echoed when invalid: it may be a value in the wrong place.
    from worktime_cli.secrets import scrub

    try:
        validate_name(name)
    except WorktimeError as exc:
        raise WorktimeError(f"{where}: not a valid secret name", exc.hint) from None
    if scrub.value_as_name(name):
        raise WorktimeError(
            f"{where}: a name that looks like a secret value (not shown)",
            hint='expected {"NAME": "value"}: is a value in the name\'s place?',
        )


# --- push: local values to the deployed Worker ----------------------------------------------


@dataclass(frozen=True)
class PushPlan:
    """What `secret push` would upload: required names with a keyring or dotenv value."""

    values: dict[str, str]
    skipped: tuple[str, ...]  # required, but no local value (or only a wrangler.toml var)
    required: tuple[str, ...]

    def __repr__(self) -> str:  # the values stay out of any repr
        return f"PushPlan(names={list(self.values)}, skipped={list(self.skipped)})"


@dataclass(frozen=True)
class SecretPush:
    target: SecretTarget
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.target.to_json(),
            "uploaded": list(self.uploaded),
            "skipped": list(self.skipped),
        }


def plan_push(resolved: Environment) -> PushPlan:
    """Required names whose value comes from the keyring or a dotenv file.

    wrangler.toml vars are deployed with the Worker already and `--var` is for one local run,
    so neither counts as a secret's value.
    """
    from worktime_cli.secrets.environment import SOURCE_CLI, SOURCE_VARS

    values: dict[str, str] = {}
    skipped: list[str] = []
    for name in resolved.required:
        source = resolved.sources.get(name)
        if source is None or source in (SOURCE_VARS, SOURCE_CLI):
            skipped.append(name)
        else:
            values[name] = resolved.values[name]
    return PushPlan(values=values, skipped=tuple(skipped), required=resolved.required)


# --- keyring operations ---------------------------------------------------------------------


def put(cfg: Config, name: str, value: str) -> SecretPut:
    """Store (or replace) one secret and record its name in the index."""
    validate_name(name)
    value = normalise_value(name, value)
    _refuse_uncarriable(name, value)
    service = project_service(cfg)
    index = keyring_projects.read_index(service)
    existed = name in index or _get(service, name) is not None
    try:
        _set(service, name, value)
        if name not in index:
            keyring_projects.write_index(service, [*index, name])
    except BaseException:  # Ctrl+C too: never leave a value that `list` would not show
        if not existed and name not in index:
            keyring_store.quietly(lambda: _delete(service, name))
        raise
    return SecretPut(SecretTarget("keyring", service), name, created=not existed)


def delete(cfg: Config, name: str) -> SecretDeleted:
    """Delete one secret from the keyring and the index."""
    validate_name(name)
    service = project_service(cfg)
    index = keyring_projects.read_index(service)
    present = _get(service, name) is not None
    if not present and name not in index:
        raise missing_secret(name, SecretTarget("keyring", service))
    if present:
        _delete(service, name)
    if name in index:
        keyring_projects.write_index(service, [n for n in index if n != name])
    return SecretDeleted(SecretTarget("keyring", service), name)


def exists(cfg: Config, name: str) -> bool:
    """Whether `name` has a value or an index entry (either is enough for `delete`)."""
    service = project_service(cfg)
    return (
        validate_name(name) in keyring_projects.read_index(service)
        or _get(service, name) is not None
    )


def names(cfg: Config) -> tuple[str, ...]:
    """The names in the index, sorted (values not read)."""
    return tuple(sorted(keyring_projects.read_index(project_service(cfg))))


def read_all(cfg: Config) -> dict[str, str]:
    """Every indexed secret that still has a value (one deleted behind our back is skipped)."""
    return keyring_projects.read_all(cfg)


def bulk(cfg: Config, changes: Mapping[str, str | None]) -> SecretBulk:
    """Apply many puts (str) and deletes (None); on a failure, restore what was there before."""
    clean = clean_changes(changes)
    for name, value in clean.items():
        if value is not None:
            _refuse_uncarriable(name, value)
    service = project_service(cfg)
    index = keyring_projects.read_index(service)
    previous = {name: _get(service, name) for name in clean}
    stored: list[str] = []
    deleted: list[str] = []
    done: list[str] = []
    try:
        for name, value in clean.items():
            done.append(name)  # before the call: an interrupted write is restored too
            if value is None:
                if previous[name] is not None:
                    _delete(service, name)
                    deleted.append(name)
            else:
                _set(service, name, value)
                stored.append(name)
        new_index = [n for n in index if not (n in clean and clean[n] is None)]
        new_index += [n for n in stored if n not in new_index]
        if sorted(new_index) != sorted(index):
            keyring_projects.write_index(service, new_index)
    except BaseException:  # Ctrl+C too: all or nothing
        for name in reversed(done):
            keyring_store.quietly(lambda name=name: _restore(service, name, previous[name]))  # type: ignore[misc]  # the default binds the loop variable
        raise
    return SecretBulk(SecretTarget("keyring", service), tuple(stored), tuple(deleted))


def _refuse_uncarriable(name: str, value: str) -> None:
    """A keyring value must reach `run` and `dev --worker`, i.e. a process environment.

    Only the local store checks this: a deployed Worker's secret never passes through one.
    """
    from worktime_cli.project.devvars import CANNOT_CARRY, environment_problem

    problem = environment_problem(name, value)
    if problem is not None:
        raise WorktimeError(
            f"refusing to store {name}: {problem}{CANNOT_CARRY}; nothing was stored",
            hint="a secret value is text; encode binary values (e.g. base64) first",
        )


def _restore(service: str, name: str, old: str | None) -> None:
    if old is None:
        _delete(service, name)
    else:
        _set(service, name, old)


def _get(service: str, name: str) -> str | None:
    return keyring_store.get(service, name, f"read {name}")


def _set(service: str, name: str, value: str) -> None:
    keyring_store.set_value(service, name, value, f"store {name}")


def _delete(service: str, name: str) -> None:
    keyring_store.delete(service, name, f"delete {name}")
