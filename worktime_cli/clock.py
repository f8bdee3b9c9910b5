"""The one clock: every "now" worktime writes or compares data against comes from here.

`WORKTIME_NOW` (read here and nowhere else) moves it, for tests, CI and reproducing a report:

- an ISO-8601 instant (`2024-02-29T23:59:30Z`, `2024-02-29 23:59:30+01:00`; no zone means
  UTC) freezes the clock there: the first reading in the process returns that instant, each
  later one a microsecond more (so two things stamped in one run never share a stamp, and the
  same steps read the same times);
- a signed number of seconds (`+86400`, `-31536000.5`) shifts the real clock: time runs, and
  every process given the same value agrees on it (what a test run across processes needs);
- unset or empty: the real clock.

A value that is neither is ignored with no error: the variable is a testing aid, and a typo in
it must not break a user's command.

Timers (timeouts, retry waits, elapsed times) do not read this clock: they use
`time.monotonic()`, which no shift should stretch.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

ENV = "WORKTIME_NOW"

_lock = threading.Lock()
_frozen: dict[str, int] = {}  # the frozen value -> readings taken of it in this process


def _parse(value: str) -> tuple[str, float] | None:
    """("frozen", epoch seconds) or ("shift", seconds), or None for the real clock."""
    text = value.strip()
    if not text:
        return None
    if text[0] in "+-":
        try:
            return ("shift", float(text))
        except ValueError:
            return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return ("frozen", moment.timestamp())


def timestamp() -> float:
    """Seconds since the epoch, now (as `time.time()`, moved by WORKTIME_NOW)."""
    raw = os.environ.get(ENV, "")
    setting = _parse(raw)
    if setting is None:
        return time.time()
    kind, value = setting
    if kind == "shift":
        return time.time() + value
    with _lock:
        ticks = _frozen.get(raw, 0)
        _frozen.clear()  # a new frozen value starts again at its instant
        _frozen[raw] = ticks + 1
    return value + ticks / 1_000_000


def now() -> dt.datetime:
    """The current instant, timezone-aware in UTC."""
    return dt.datetime.fromtimestamp(timestamp(), dt.UTC)


def today() -> dt.date:
    """Today's date in UTC (the backend's days are UTC days)."""
    return now().date()


def restart() -> None:
    """Start a frozen clock again at its instant (a test's first reading is the instant)."""
    with _lock:
        _frozen.clear()
