"""The one clock (worktime_cli.clock): WORKTIME_NOW freezes or shifts it, read in one place."""

from __future__ import annotations

import ast
import datetime as dt
import time
from pathlib import Path

import pytest

from worktime_cli import clock

PACKAGE = Path(clock.__file__).resolve().parent


def test_unset_is_the_real_clock(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(clock.ENV, raising=False)
    before = time.time()
    read = clock.timestamp()
    assert before <= read <= time.time()
    assert clock.now().tzinfo is dt.UTC


def test_an_instant_freezes_it_and_each_reading_is_a_microsecond_later(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv(clock.ENV, "2024-02-29T23:59:59Z")
    clock.restart()
    first, second = clock.now(), clock.now()
    assert first == dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)
    assert second - first == dt.timedelta(microseconds=1)
    clock.restart()
    assert clock.now() == first  # the same steps read the same times
    assert clock.today() == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-29 23:00:00", dt.datetime(2024, 2, 29, 23, tzinfo=dt.UTC)),  # no zone: UTC
        ("2024-03-01T00:30:00+01:00", dt.datetime(2024, 2, 29, 23, 30, tzinfo=dt.UTC)),
        ("2026-12-31T23:59:59.5z", dt.datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC)),
    ],
)
def test_iso_forms(monkeypatch: pytest.MonkeyPatch, value: str, expected: dt.datetime):
    monkeypatch.setenv(clock.ENV, value)
    clock.restart()
    assert clock.now() == expected


def test_a_signed_number_shifts_the_running_clock(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(clock.ENV, "-86400")
    before = time.time()
    read = clock.timestamp()
    assert before - 86400 <= read <= time.time() - 86400
    assert clock.timestamp() >= read  # it runs


@pytest.mark.parametrize("value", ["", "  ", "yesterday", "+1d", "2024-13-01"])
def test_a_value_it_cannot_read_is_the_real_clock(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv(clock.ENV, value)
    before = time.time()
    assert before <= clock.timestamp() <= time.time()


def test_the_fixture_freezes_subprocesses_too(frozen_clock: dt.datetime):
    import os

    assert os.environ[clock.ENV]
    assert clock.now() == frozen_clock


def _calls(tree: ast.AST) -> list[str]:
    """Dotted names of the calls in `tree` (`datetime.now`, `dt.date.today`, `time.time`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            func = node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            found.append(".".join(reversed(parts)))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "time"
            and isinstance(node.value, ast.Name)
            and node.value.id == "time"
        ):
            found.append("time.time")  # `clock=time.time` as a default: passed around uncalled
    return found


# Wall-clock readings that are not "now" for data: file ages against the kernel's mtimes, and
# a server's Retry-After date (both compared with the real clock that wrote them).
ALLOWED = {
    ("fsutil.py", "time.time"),
    ("remote/client.py", "time.time"),
}
WALL_CLOCK = ("datetime.now", "datetime.utcnow", "date.today", "time.time", "time.localtime")


def test_every_now_in_the_package_comes_from_the_clock():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "clock.py":
            continue
        for name in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name.endswith(WALL_CLOCK) and (rel, name) not in ALLOWED:
                offenders.append(f"{rel}: {name}")
    assert not offenders, "read the time through worktime_cli.clock:\n" + "\n".join(offenders)
