"""Everything worktime keeps in the OS keyring, and the one way it talks to the keyring.

Two kinds of entries live there:
- a project's secrets: service `worktime:<name>:<project id>` (the Worker's name, so
  `<name>-<env>` under `--env`, and the first 12 hex digits of the SHA-256 of the config file's
  resolved path), username = the secret's name; keyring has no way to enumerate entries, so the
  set of names lives in one more entry of the same service (`worktime.index`, a JSON list of
  names, never values; the dot cannot collide with a secret name, which matches `[A-Za-z_]\\w*`);
- the user's Cloudflare API token: service `worktime:cloudflare`, username `api_token`.

Why the path: two checkouts whose Workers share a name (two clones of one repository, a
fork, a template) must not read or overwrite each other's values, and the path is the one
identity a checkout has that nothing in it can copy (an id kept in a file travels with
`cp -r`). Moving or renaming the folder therefore starts an empty store; `worktime secret
adopt --from OLD_PATH` carries the values over (`adopt`).

Entries written before this scheme (service `worktime:<name>`, shared by every checkout of a
Worker with that name) are copied into a checkout's own service the first time it reads its
secrets, and left where they are: whether another checkout still needs them is not knowable
(`_carry_over_legacy`).

Every call goes through `call_with_timeout`, which runs it in a daemon thread and gives up
after `TIMEOUT_SECONDS`: a locked or hung Secret Service (or a D-Bus that never answers) must
give a clear error, not a frozen terminal. A thread that never returns is abandoned; being a
daemon it does not keep the process alive. Backends that accept a value and lose it count as
no backend at all. A backend's own error text is scrubbed of the value, in every form it may
take (`scrub`), before we repeat it.

Backends that keep values unencrypted (keyrings.alt's file backends, anything else from
keyrings.alt, and any backend whose priority is below 1, which keyring documents as "not
recommended") are refused when keyring picked them by itself: with only keyrings.alt
installed, keyring silently falls back to a plaintext file, and "stored in the OS keyring"
would be a lie. A user who names one with PYTHON_KEYRING_BACKEND gets it, and one notice per
backend (`take_notices`) that values are stored unencrypted.

`keyring` is imported inside the functions, so `worktime --help` and the keyring-free parts of
the environment never load it. This module sits below `secrets`, `environment` and
`remote.credentials`, and imports none of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from worktime_cli.errors import ConfigError, SecretStoreError, WorktimeError
from worktime_cli.secrets import scrub

if TYPE_CHECKING:
    from pathlib import Path

    from worktime_cli.project.config import Config

T = TypeVar("T")

TIMEOUT_SECONDS = 5.0
INDEX_USERNAME = "worktime.index"
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOKEN_SERVICE = "worktime:cloudflare"  # noqa: S105  # a keyring service name, not a secret
TOKEN_USERNAME = "api_token"  # noqa: S105  # a keyring username, not a secret

NO_BACKEND_HINT = (
    "start and unlock a Secret Service (e.g. gnome-keyring), choose a keyring backend with "
    "PYTHON_KEYRING_BACKEND, or put local values in .dev.vars"
)
# Backends that accept a value and then lose it (or refuse everything): storing a secret
# there would look like success, so they count as "no usable backend".
_UNUSABLE_BACKENDS = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")
BACKEND_VARIABLE = "PYTHON_KEYRING_BACKEND"
# keyring's own rule of thumb: "a priority between zero but less than one is suitable, but a
# priority of one or greater is recommended"; keyrings.alt's file backends sit at 0.5/0.6.
RECOMMENDED_PRIORITY = 1.0
_CHAINER = "keyring.backends.chainer.ChainerBackend"


@dataclass(frozen=True)
class Backend:
    """The keyring backend in use, and whether it keeps values encrypted."""

    path: str  # module.Class, as PYTHON_KEYRING_BACKEND spells it
    secure: bool
    explicit: bool  # named by PYTHON_KEYRING_BACKEND
    reason: str | None = None  # why it is not secure

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.path,
            "secure": self.secure,
            "explicit": self.explicit,
            "reason": self.reason,
        }


_noticed: weakref.WeakSet[Any] = weakref.WeakSet()
_judged: weakref.WeakKeyDictionary[Any, Backend] = weakref.WeakKeyDictionary()
_notices: list[str] = []
_notices_lock = threading.Lock()


# --- the one call path ---------------------------------------------------------------------


def call_with_timeout(
    operation: Callable[[Any], T],
    what: str,
    *,
    secret: str | None = None,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    """Run `operation(backend)` with a timeout, turning keyring failures into SecretStoreError.

    `what` completes "trying to …" in messages; `secret` is scrubbed from a backend's error
    text; exceptions in `passthrough` reach the caller unchanged.
    """
    import keyring

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            # get_keyring() is inside the thread too: choosing a backend may probe D-Bus.
            backend = keyring.get_keyring()
            if _backend_path(backend) in _UNUSABLE_BACKENDS:
                outcome["unusable"] = _backend_path(backend)
                return
            info = assess(backend)
            if not info.secure:
                if not info.explicit:
                    outcome["insecure"] = info
                    return
                _notice_once(backend, info)
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
    if "insecure" in outcome:
        raise _refused(outcome["insecure"])
    if "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, passthrough):
            raise exc
        raise _translate(exc, what, secret) from None
    return outcome["value"]  # type: ignore[no-any-return]


def get(service: str, username: str, what: str) -> str | None:
    """One entry's value, or None when there is none."""
    value: str | None = call_with_timeout(
        lambda backend: backend.get_password(service, username), what
    )
    if username != INDEX_USERNAME:
        scrub.remember(value)  # any later message in this process is scrubbed of it
    return value


def set_value(service: str, username: str, value: str, what: str) -> None:
    """Create or replace one entry; `value` never reaches a message."""
    scrub.remember(value)
    call_with_timeout(
        lambda backend: backend.set_password(service, username, value), what, secret=value
    )


def delete(service: str, username: str, what: str) -> bool:
    """Remove one entry; False when it was not there (the goal is reached either way)."""
    import keyring.errors

    try:
        call_with_timeout(
            lambda backend: backend.delete_password(service, username),
            what,
            passthrough=(keyring.errors.PasswordDeleteError,),
        )
    except keyring.errors.PasswordDeleteError:
        return False
    return True


def quietly(action: Callable[[], object]) -> None:
    """Best-effort clean-up after an error that is already being reported.

    A second error here would only hide the first.
    """
    with contextlib.suppress(WorktimeError):
        action()


def _backend_path(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def assess(backend: Any) -> Backend:
    """Whether `backend` keeps values encrypted, and whether the user chose it by name."""
    explicit = bool(os.environ.get(BACKEND_VARIABLE, "").strip())
    # Judged once per backend object: Secret Service's priority opens a D-Bus connection
    # each time it is read, and every keyring call passes through here.
    try:
        judged = _judged[backend]
    except (KeyError, TypeError):
        judged = _judge(backend)
        with contextlib.suppress(TypeError):  # a backend that cannot be weakly referenced
            _judged[backend] = judged
    return dataclasses.replace(judged, explicit=explicit)


def _judge(backend: Any) -> Backend:
    path = _backend_path(backend)
    explicit = False  # filled in by assess()
    judged = backend
    if path == _CHAINER:
        # The chainer writes to its highest-priority backend: that one holds the values.
        try:
            chained = list(backend.backends)
        except Exception:  # a backend whose priority probe fails: judged as unknown below
            chained = []
        if chained:
            judged = chained[0]
    judged_path = _backend_path(judged)
    shown = judged_path if judged is backend else f"{judged_path} (through {path})"
    if judged_path.startswith("keyrings.alt.file.") and "Encrypted" not in judged_path:
        return Backend(shown, False, explicit, "it keeps values unencrypted in a file")
    if judged_path.startswith("keyrings.alt."):
        return Backend(shown, False, explicit, "keyrings.alt backends are not a secure store")
    try:
        priority = float(judged.priority)
    except Exception:  # keyring raises RuntimeError for a backend unfit for this system
        return Backend(shown, False, explicit, "keyring cannot rate it on this system")
    if priority < RECOMMENDED_PRIORITY:
        return Backend(
            shown, False, explicit, f"keyring rates it not recommended (priority {priority:g})"
        )
    return Backend(shown, True, explicit)


def backend_in_use() -> Backend:
    """The backend keyring picks (for `doctor`); unusable or refused ones raise SecretStoreError."""
    import keyring

    # Through the one call path, so a hung D-Bus times out and a refused backend says why.
    call_with_timeout(lambda _backend: None, "check the keyring backend")
    return assess(keyring.get_keyring())


def take_notices() -> tuple[str, ...]:
    """Notices not yet shown (an unencrypted backend named by the user), each given once."""
    with _notices_lock:
        taken = tuple(_notices)
        _notices.clear()
    return taken


def _notice_once(backend: Any, info: Backend) -> None:
    with _notices_lock:
        if backend in _noticed:
            return
        _noticed.add(backend)
        _notices.append(
            f"secret values are stored unencrypted: {BACKEND_VARIABLE} chose {info.path}, "
            f"and {info.reason}"
        )


def _refused(info: Backend) -> SecretStoreError:
    backend = info.path.split(" ", 1)[0]
    return SecretStoreError(
        f"keyring picked {info.path}, which is not safe for secrets: {info.reason}",
        hint="start and unlock a Secret Service (e.g. gnome-keyring), put local values in "
        f".dev.vars, or accept it by naming it: {BACKEND_VARIABLE}={backend}",
    )


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
    detail = scrub.clean(str(exc))
    if secret:
        detail = scrub.scrub(detail, [secret])
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return SecretStoreError(f"the OS keyring failed to {what}: {detail}", hint=NO_BACKEND_HINT)


# --- a project's secrets -------------------------------------------------------------------


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
    with _notices_lock:
        _notices.append(
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


# --- the API token -------------------------------------------------------------------------


def stored_token() -> str | None:
    """The token `worktime login` stored, or None."""
    return get(TOKEN_SERVICE, TOKEN_USERNAME, "read the API token")


def store_token(token: str) -> None:
    set_value(TOKEN_SERVICE, TOKEN_USERNAME, token, "store the API token")


def forget_token() -> bool:
    """Delete the stored token; False when none was stored."""
    return delete(TOKEN_SERVICE, TOKEN_USERNAME, "delete the API token")
