"""The one way worktime talks to the OS keyring, and the user's API token kept there.

What worktime keeps in the keyring: a project's secrets, laid out by `keyring_projects` (which
reads and writes them through this module), and the user's Cloudflare API token: service
`worktime:cloudflare`, username `api_token`.

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
the environment never load it. This module sits below `keyring_projects`, `stores`,
`environment` and `remote.credentials`, and imports none of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from worktime_cli.errors import SecretStoreError, WorktimeError
from worktime_cli.secrets import scrub

T = TypeVar("T")

TIMEOUT_SECONDS = 5.0
# The entry of a service that lists its secrets' names (`keyring_projects`): `get` must not
# take its JSON for a secret value to scrub.
INDEX_USERNAME = "worktime.index"
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


def add_notice(message: str) -> None:
    """Queue `message` for `take_notices` (e.g. secrets carried over from a legacy service)."""
    with _notices_lock:
        _notices.append(message)


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


# --- the API token -------------------------------------------------------------------------


def stored_token() -> str | None:
    """The token `worktime login` stored, or None."""
    return get(TOKEN_SERVICE, TOKEN_USERNAME, "read the API token")


def store_token(token: str) -> None:
    set_value(TOKEN_SERVICE, TOKEN_USERNAME, token, "store the API token")


def forget_token() -> bool:
    """Delete the stored token; False when none was stored."""
    return delete(TOKEN_SERVICE, TOKEN_USERNAME, "delete the API token")
