"""Secret values in the operating system's keyring, plus an index of their names.

Service `worktime:<name in wrangler.toml>`, username = the secret's name. keyring has no
way to enumerate entries, so the set of names lives in one more entry of the same service
(`worktime.index`, a JSON list of names; never values). The dot makes it impossible to
collide with a secret, whose names match `^[A-Za-z_][A-Za-z0-9_]*$`.

Every keyring call goes through `call_with_timeout`, which runs it in a daemon thread and gives up after
`TIMEOUT_SECONDS`: a locked or hung Secret Service (or a D-Bus that never answers) must give
a clear error, not a frozen terminal. A thread that never returns is abandoned; being a
daemon it does not keep the process alive.

Values never reach a message: errors name the secret, not its value, and a backend's own
error text is scrubbed of the value before we repeat it.

`keyring` is imported inside the functions that talk to it, so `worktime --help` and the
keyring-free parts of the environment never load it.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from worktime_cli.errors import (
    ConfigError,
    LimitError,
    NotFoundError,
    SecretStoreError,
    WorktimeError,
)

if TYPE_CHECKING:
    from worktime_cli.config import Config

T = TypeVar("T")

TIMEOUT_SECONDS = 5.0
MAX_VALUE_BYTES = 5 * 1024  # a Worker secret's documented size limit
INDEX_USERNAME = "worktime.index"
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

NO_BACKEND_HINT = (
    "start and unlock a Secret Service (e.g. gnome-keyring), choose a keyring backend with "
    "PYTHON_KEYRING_BACKEND, or put local values in .dev.vars"
)
# Backends that accept a value and then lose it (or refuse everything): storing a secret
# there would look like success, so they count as "no usable backend".
_UNUSABLE_BACKENDS = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")


@dataclass(frozen=True)
class PutResult:
    name: str
    service: str
    created: bool  # False when an existing value was replaced


@dataclass(frozen=True)
class BulkResult:
    service: str
    stored: tuple[str, ...]
    deleted: tuple[str, ...]


def service_name(cfg: Config) -> str:
    """The keyring service for a project: `worktime:<name>` (the Worker's name)."""
    if not cfg.name:
        raise ConfigError(
            f"{cfg.path} has no `name`, which names this project's secrets in the keyring",
            hint='add a line like `name = "worktime-backend"` at the top of wrangler.toml',
        )
    return f"worktime:{cfg.name}"


# --- validation (no keyring needed) -------------------------------------------------------


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


def parse_bulk(text: str, source: str) -> dict[str, str | None]:
    """A bulk file: a JSON object `{"NAME": "value" | null}` or a .env file; all validated.

    `null` means delete. Nothing is stored here: a bad entry anywhere fails the whole file
    before the keyring is touched.
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
        if not isinstance(data, dict):
            raise WorktimeError(f"{source}: expected a JSON object of names to values")
        for name, value in data.items():
            _validate_name_at(name, source)
            if value is None:
                changes[name] = None
            elif isinstance(value, str):
                changes[name] = normalise_value(name, value)
            else:
                raise WorktimeError(f"{source}: {name} must be a string, or null to delete it")
        return changes
    from worktime_cli.environment import parse_dotenv

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
    try:
        validate_name(name)
    except WorktimeError as exc:
        raise WorktimeError(f"{where}: not a valid secret name", exc.hint) from None


# --- keyring operations ---------------------------------------------------------------------


def put(cfg: Config, name: str, value: str) -> PutResult:
    """Store (or replace) one secret and record its name in the index."""
    validate_name(name)
    value = normalise_value(name, value)
    service = service_name(cfg)
    index = _read_index(service)
    existed = name in index or _get(service, name) is not None
    try:
        _set(service, name, value)
        if name not in index:
            _write_index(service, [*index, name])
    except BaseException:  # Ctrl+C too: never leave a value that `list` would not show
        if not existed and name not in index:
            _quietly(lambda: _delete(service, name))
        raise
    return PutResult(name=name, service=service, created=not existed)


def delete(cfg: Config, name: str) -> str:
    """Delete one secret from the keyring and the index; returns the service name."""
    validate_name(name)
    service = service_name(cfg)
    index = _read_index(service)
    present = _get(service, name) is not None
    if not present and name not in index:
        raise NotFoundError(
            f"no secret {name} in the keyring ({service})",
            hint="see the names with `worktime secret list`",
        )
    if present:
        _delete(service, name)
    if name in index:
        _write_index(service, [n for n in index if n != name])
    return service


def exists(cfg: Config, name: str) -> bool:
    """Whether `name` has a value or an index entry (either is enough for `delete`)."""
    service = service_name(cfg)
    return validate_name(name) in _read_index(service) or _get(service, name) is not None


def names(cfg: Config) -> tuple[str, ...]:
    """The names in the index, sorted (values not read)."""
    return tuple(sorted(_read_index(service_name(cfg))))


def read_all(cfg: Config) -> dict[str, str]:
    """Every indexed secret that still has a value (one deleted behind our back is skipped)."""
    service = service_name(cfg)
    values: dict[str, str] = {}
    for name in sorted(_read_index(service)):
        value = _get(service, name)
        if value is not None:
            values[name] = value
    return values


def bulk(cfg: Config, changes: Mapping[str, str | None]) -> BulkResult:
    """Apply many puts (str) and deletes (None); on a failure, restore what was there before."""
    clean: dict[str, str | None] = {
        validate_name(name): None if value is None else normalise_value(name, value)
        for name, value in changes.items()
    }
    service = service_name(cfg)
    index = _read_index(service)
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
            _write_index(service, new_index)
    except BaseException:  # Ctrl+C too: all or nothing
        for name in reversed(done):
            _quietly(lambda name=name: _restore(service, name, previous[name]))  # type: ignore[misc]  # the default binds the loop variable
        raise
    return BulkResult(service=service, stored=tuple(stored), deleted=tuple(deleted))


def _restore(service: str, name: str, old: str | None) -> None:
    if old is None:
        _delete(service, name)
    else:
        _set(service, name, old)


def _get(service: str, name: str) -> str | None:
    return call_with_timeout(lambda kr: kr.get_password(service, name), f"read {name}")  # type: ignore[no-any-return]


def _set(service: str, name: str, value: str) -> None:
    call_with_timeout(
        lambda kr: kr.set_password(service, name, value), f"store {name}", secret=value
    )


def _delete(service: str, name: str) -> None:
    import keyring.errors

    # Already gone is fine: the goal is reached.
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        call_with_timeout(
            lambda kr: kr.delete_password(service, name),
            f"delete {name}",
            passthrough=(keyring.errors.PasswordDeleteError,),
        )


def _read_index(service: str) -> list[str]:
    raw = _get(service, INDEX_USERNAME)
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


def _write_index(service: str, names: list[str]) -> None:
    payload = json.dumps(sorted(set(names)))
    call_with_timeout(
        lambda kr: kr.set_password(service, INDEX_USERNAME, payload),
        "update the list of secret names",
    )


def _quietly(action: Callable[[], object]) -> None:
    # Best-effort clean-up after an error that is already being reported: a second error
    # here would only hide the first.
    with contextlib.suppress(WorktimeError):
        action()


def call_with_timeout(
    operation: Callable[[Any], T],
    what: str,
    *,
    secret: str | None = None,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    """Run `operation(backend)` with a timeout, turning keyring failures into SecretStoreError."""
    import keyring

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            # get_keyring() is inside the thread too: choosing a backend may probe D-Bus.
            backend = keyring.get_keyring()
            if _backend_path(backend) in _UNUSABLE_BACKENDS:
                outcome["unusable"] = _backend_path(backend)
                return
            outcome["value"] = operation(backend)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="worktime-keyring", daemon=True)
    thread.start()
    thread.join(TIMEOUT_SECONDS)
    if thread.is_alive():
        raise SecretStoreError(
            f"the OS keyring did not answer within {TIMEOUT_SECONDS:g} s (trying to {what})",
            hint="unlock your keyring (it may be waiting for a password), or " + NO_BACKEND_HINT,
        )
    if "unusable" in outcome:
        raise _no_backend(outcome["unusable"])
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, passthrough):
            raise exc
        raise _translate(exc, what, secret) from None
    return outcome["value"]  # type: ignore[no-any-return]


def _backend_path(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _no_backend(backend: str) -> SecretStoreError:
    return SecretStoreError(f"no usable OS keyring (keyring chose {backend})", hint=NO_BACKEND_HINT)


def _translate(exc: BaseException, what: str, secret: str | None) -> WorktimeError:
    import keyring.errors

    if isinstance(exc, WorktimeError):
        return exc
    if isinstance(exc, keyring.errors.NoKeyringError):
        return _no_backend("none")
    if isinstance(exc, keyring.errors.KeyringLocked):
        return SecretStoreError(
            f"the OS keyring is locked (trying to {what})",
            hint="unlock it (log in to the desktop, or `gnome-keyring-daemon --unlock`) and retry",
        )
    detail = str(exc)
    if secret:
        detail = detail.replace(secret, "***")
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return SecretStoreError(f"the OS keyring failed to {what}: {detail}", hint=NO_BACKEND_HINT)
