"""D1 Time Travel: a remote database's bookmark now or at a time, and a restore to one.

Exactly wrangler's requests (`d1 time-travel info|restore`, wrangler 4.86):
`GET /accounts/{account}/d1/database/{uuid}/time_travel/bookmark[?timestamp=ISO]` answers
`{"bookmark": …}`; `POST …/time_travel/restore?bookmark=B` answers `{"bookmark", "message",
"previous_bookmark"}`. As wrangler, a `--timestamp` restore first asks for that time's
bookmark, so what is confirmed is the exact bookmark that is then restored.
Time Travel keeps 30 days (Workers Paid; 7 on Free): older or future times are refused here,
before any request, with wrangler's rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from worktime_cli import clock
from worktime_cli.errors import UsageError, WorktimeError
from worktime_cli.remote import d1 as remote_d1

if TYPE_CHECKING:
    from worktime_cli.project.config import Config
    from worktime_cli.remote.client import Client

RETENTION = timedelta(days=30)
# wrangler's ISO_DATE_REG_EXP: date, hours and minutes, optional seconds and fraction, and a
# zone (Z or ±hh:mm) — a time without a zone would mean the machine's, which is a guess.
_ISO = re.compile(
    r"^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:[+-][0-2]\d:[0-5]\d|Z)$"
)


def restore_command(database: str, bookmark: str, env: str | None = None) -> str:
    """The exact command that puts `database` back to `bookmark`; with the `--env` that
    resolved it (without, the same name could be the top level's database)."""
    import shlex

    flag = "" if env is None else f" --env {shlex.quote(env)}"
    return f"worktime d1 time-travel restore {database} --bookmark {bookmark}{flag}"


def parse_timestamp(text: str, *, now: datetime | None = None) -> str:
    """`text` (Unix seconds or milliseconds, or RFC 3339 with a zone) as the API's ISO form.

    Example:

        parse_timestamp("2026-12-01T10:00:00Z")  # '2026-12-01T10:00:00.000Z'
    """
    now = now or clock.now()
    value = text.strip()
    when: datetime | None = None
    if value.isdigit():
        # wrangler: ten digits are seconds, anything else milliseconds.
        seconds = int(value) if len(value) == 10 else int(value) / 1000
        try:
            when = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    elif _ISO.match(value):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        raise UsageError(
            "--timestamp is not a Unix time or an RFC 3339 time with a zone",
            hint="for example --timestamp 2026-12-01T10:00:00Z or --timestamp 1764583200",
        )
    if when > now:
        raise UsageError("--timestamp is in the future", hint="give a time in the past")
    if when < now - RETENTION:
        raise UsageError(
            "--timestamp is more than 30 days ago",
            hint="Time Travel keeps 30 days (7 on the Workers Free plan)",
        )
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class BookmarkInfo:
    """`d1 time-travel info`: the bookmark of `database` now, or at `timestamp`."""

    database: str
    database_id: str
    bookmark: str
    timestamp: str | None  # the ISO time asked for; None for "now"
    env: str | None = None  # the --env that resolved the database

    @property
    def restore_command(self) -> str:
        return restore_command(self.database, self.bookmark, self.env)

    def to_json(self) -> dict[str, Any]:
        # wrangler's `--json` is the API result ({"bookmark"}); the rest is added, not renamed.
        return {
            "bookmark": self.bookmark,
            "database": self.database,
            "database_id": self.database_id,
            "timestamp": self.timestamp,
            "restore_command": self.restore_command,
        }


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do, resolved before the confirmation: the database and bookmark."""

    database: str
    database_id: str
    bookmark: str
    timestamp: str | None
    env: str | None = None


@dataclass(frozen=True)
class RestoreResult:
    """`d1 time-travel restore`: the bookmark restored and the one to undo the restore with."""

    database: str
    database_id: str
    bookmark: str
    previous_bookmark: str | None
    message: str | None
    env: str | None = None

    @property
    def undo_command(self) -> str | None:
        if self.previous_bookmark is None:
            return None
        return restore_command(self.database, self.previous_bookmark, self.env)

    def to_json(self) -> dict[str, Any]:
        return {
            "bookmark": self.bookmark,
            "previous_bookmark": self.previous_bookmark,
            "message": self.message,
            "database": self.database,
            "database_id": self.database_id,
            "undo_command": self.undo_command,
        }


def bookmark(client: Client, database_id: str, timestamp: str | None = None) -> str:
    """The database's bookmark now, or at `timestamp` (already in the API's ISO form)."""
    params = {} if timestamp is None else {"timestamp": timestamp}
    envelope = client.call(
        "GET",
        client.account_path(f"/d1/database/{database_id}/time_travel/bookmark"),
        params=params,
        headers={"Content-Type": "application/json"},
    )
    result = envelope.result
    found = result.get("bookmark") if isinstance(result, dict) else None
    if not isinstance(found, str) or not found:
        raise WorktimeError(
            "Cloudflare's API answered the Time Travel bookmark request without a bookmark"
        )
    return found


def _database(client: Client, cfg: Config | None, name: str) -> remote_d1.RemoteDatabase:
    found = remote_d1.resolve(client, cfg, name)
    if found.version == "alpha":
        raise WorktimeError(
            f"Time Travel is not available for the alpha D1 database {found.name}",
            hint="migrate its data to a new database to use Time Travel",
        )
    return found


def info(
    client: Client, cfg: Config | None, database: str, *, timestamp: str | None = None
) -> BookmarkInfo:
    """The bookmark of `database` (name or binding) now, or at `timestamp` (as given by a user)."""
    when = None if timestamp is None else parse_timestamp(timestamp)
    found = _database(client, cfg, database)
    env = None if cfg is None else cfg.env
    return BookmarkInfo(found.name, found.uuid, bookmark(client, found.uuid, when), when, env)


def plan_restore(
    client: Client,
    cfg: Config | None,
    database: str,
    *,
    bookmark_id: str | None = None,
    timestamp: str | None = None,
) -> RestorePlan:
    """Resolve the database and the bookmark (a timestamp's, as wrangler); change nothing."""
    if (bookmark_id is None) == (timestamp is None):
        raise UsageError(
            "give either --timestamp or --bookmark"
            if bookmark_id is None
            else "--timestamp and --bookmark cannot be combined",
            hint="`worktime d1 time-travel info DB` prints the current bookmark",
        )
    when = None if timestamp is None else parse_timestamp(timestamp)
    if bookmark_id is not None and not bookmark_id.strip():
        raise UsageError("--bookmark is empty")
    found = _database(client, cfg, database)
    chosen = bookmark_id if bookmark_id is not None else bookmark(client, found.uuid, when)
    return RestorePlan(found.name, found.uuid, chosen, when, None if cfg is None else cfg.env)


def restore(client: Client, plan: RestorePlan) -> RestoreResult:
    """Restore the database to `plan.bookmark`: every row and table as they were then."""
    envelope = client.call(
        "POST",
        client.account_path(f"/d1/database/{plan.database_id}/time_travel/restore"),
        params={"bookmark": plan.bookmark},
        headers={"Content-Type": "application/json"},
        # Not retried blindly: a repeated restore would overwrite the previous_bookmark the
        # first one answered with, which is the only way back.
        idempotent=False,
    )
    result = envelope.result if isinstance(envelope.result, dict) else {}
    previous = result.get("previous_bookmark")
    message = result.get("message")
    return RestoreResult(
        plan.database,
        plan.database_id,
        str(result.get("bookmark") or plan.bookmark),
        previous if isinstance(previous, str) else None,
        message if isinstance(message, str) else None,
        plan.env,
    )
