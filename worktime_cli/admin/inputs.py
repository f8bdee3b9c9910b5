"""Command-line values the admin commands share: durations, dates, zones, date ranges.

Bad values are usage errors (exit 2) that name the value, never tracebacks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from worktime_cli.errors import UsageError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str, option: str) -> int:
    """`12h`, `90m`, `1d12h`, `45s` (or a bare number of seconds) as seconds."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    match = _DURATION.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        raise UsageError(
            f"{option} {text!r} is not a duration",
            hint="use a number with a unit: 12h, 90m, 1d12h, 45s",
        )
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_date(text: str | None, option: str) -> str | None:
    """A calendar date `YYYY-MM-DD` (returned in that form), or None."""
    if text is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date", hint="use YYYY-MM-DD, e.g. 2024-06-30"
        ) from None


def parse_range(date_from: str | None, date_to: str | None) -> tuple[str | None, str | None]:
    """Both ends parsed; `--from` after `--to` is refused."""
    start = parse_date(date_from, "--from")
    end = parse_date(date_to, "--to")
    if start is not None and end is not None and start > end:
        raise UsageError(f"--from {start} is after --to {end}", hint="swap the two dates")
    return start, end


def parse_zone(name: str | None) -> ZoneInfo | None:
    """An IANA zone (`Europe/Paris`), or None for UTC days."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--tz {name!r} is not a known time zone",
            hint="use an IANA name such as UTC, Europe/Paris or America/New_York",
        ) from None


def parse_repo(text: str | None) -> tuple[str, str] | None:
    """`OWNER/NAME` as a pair, or None."""
    if text is None:
        return None
    owner, sep, name = text.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise UsageError(f"--repo {text!r} is not OWNER/NAME", hint="e.g. --repo acme/api")
    return owner, name
