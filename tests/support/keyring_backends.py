"""Keyring backends that misbehave on purpose, and access to the real Secret Service.

Test-only backends live here and nowhere a user's process can find them: nothing registers
them as a `keyring.backends` entry point, and the test extra installs no backend package
(issue 23 item 8: keyrings.alt in `.[test]` made every `secret put` refuse keyring's own
choice). Tests select them with `keyring.set_keyring`, through their own fixtures only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordSetError

from tests.support.memory_keyring import MemoryKeyring


class SleepingKeyring(KeyringBackend):
    """Never answers until `release()`: a Secret Service stuck behind an unlock prompt."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.calls = 0

    def release(self) -> None:
        self.released.set()

    def _hang(self) -> None:
        self.calls += 1
        self.released.wait(60)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class PlaintextFileKeyring(KeyringBackend):
    """Keeps values unencrypted in a JSON file, rated as keyrings.alt rates its file backends.

    keyring calls a priority below 1 "not recommended"; keyrings.alt's plaintext file backend
    sits at 0.5. The stand-in for "keyring fell back to a plaintext file".
    """

    priority = 0.5

    def __init__(self, file_path: str | None = None) -> None:
        super().__init__()
        self.file_path = file_path or "keyring_pass.json"

    def _load(self) -> dict[str, str]:
        import json
        import os

        if not os.path.exists(self.file_path):
            return {}
        with open(self.file_path, encoding="utf-8") as handle:
            data: dict[str, str] = json.load(handle)
        return data

    def _save(self, data: dict[str, str]) -> None:
        import json

        with open(self.file_path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save(data)


class LeakyKeyring(MemoryKeyring):
    """Refuses to store, quoting the value in its error, as a careless backend might."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"cannot store {password!r} for {username}")


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("collection is locked")

    set_password = delete_password = get_password  # type: ignore[assignment]  # same failure for every call


class FailingKeyring(MemoryKeyring):
    """Works until the `fail_on`-th write (1-based), which raises; later writes work again."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.writes = 0

    def set_password(self, service: str, username: str, password: str) -> None:
        self.writes += 1
        if self.writes == self.fail_on:
            raise PasswordSetError("disk full")
        super().set_password(service, username, password)


@contextmanager
def real_secret_service(in_ci: bool) -> Iterator[KeyringBackend]:
    """Install keyring's Secret Service backend; skip (locally) or fail (CI) if unusable."""
    import keyring
    from keyring.backends import SecretService

    backend = SecretService.Keyring()
    problem: list[str] = []

    def probe() -> None:
        try:
            _ = SecretService.Keyring.priority  # raises when secretstorage or D-Bus is missing
            backend.get_password("worktime:probe", "probe")
        except Exception as exc:
            problem.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        problem.append("the Secret Service did not answer within 10 s")
    if problem:
        message = f"no usable Secret Service ({problem[0]})"
        if in_ci:
            pytest.fail(
                message
                + "; .ci/run must run the tests under dbus-run-session with gnome-keyring unlocked"
            )
        pytest.skip(
            message + "; to run these tests: apt-get install dbus gnome-keyring, then run pytest "
            "inside dbus-run-session after `gnome-keyring-daemon --unlock` (see .ci/run)"
        )
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


class InterruptedKeyring(MemoryKeyring):
    """Delivers SIGINT (Ctrl+C) to this process during the `interrupt_on`-th write."""

    def __init__(self, interrupt_on: int) -> None:
        super().__init__()
        self.interrupt_on = interrupt_on
        self.writes = 0

    def set_password(self, service: str, username: str, password: str) -> None:
        import os
        import signal
        import time

        self.writes += 1
        super().set_password(service, username, password)
        if self.writes == self.interrupt_on:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the main thread takes the KeyboardInterrupt meanwhile
