"""Time-tracking sessions: list them, and close the ones a browser left `active`.

`close-stale` is Kimai's `timesheet:stop-all` for this backend: active sessions that started
more than `older_than` ago become `abandoned` (no end, never counted) or `completed` with
`end_time = min(now, start + cap)`, and the daily_stats days they land on are rebuilt in the
same batch, so the table never disagrees with the sessions, even for a moment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from worktime_cli import clock
from worktime_cli.admin import stats
from worktime_cli.admin.targets import Database, Statement

STATUSES = ("active", "completed", "abandoned")
_MAX_IDS = 90  # bound ids per statement: D1 allows 100 parameters


@dataclass(frozen=True)
class Session:
    id: int
    login: str | None
    repo: str
    pr_number: int
    status: str
    start_time: str
    end_time: str | None
    duration_seconds: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "repo": self.repo,
            "pr_number": self.pr_number,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration_seconds": self.duration_seconds,
        }


@dataclass(frozen=True)
class SessionList:
    sessions: tuple[Session, ...]

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.sessions]


def _session(row: dict[str, Any]) -> Session:
    return Session(
        id=int(row["id"]),
        login=row.get("github_username"),
        repo=f"{row['repo_owner']}/{row['repo_name']}",
        pr_number=int(row["pr_number"]),
        status=str(row["status"]),
        start_time=str(row["start_time"]),
        end_time=row["end_time"],
        duration_seconds=row["duration_seconds"],
    )


def list_sessions(
    db: Database,
    *,
    user_id: int | None = None,
    repo: tuple[str, str] | None = None,
    pr: int | None = None,
    status: str | None = None,
    since: str | None = None,
    limit: int = 50,
) -> SessionList:
    """Newest first. `since` is a date: sessions that started on or after it (UTC)."""
    conditions, params = ["1"], list[Any]()
    if user_id is not None:
        conditions.append("s.user_id = ?")
        params.append(user_id)
    if repo is not None:
        conditions.append("s.repo_owner = ? AND s.repo_name = ?")
        params.extend(repo)
    if pr is not None:
        conditions.append("s.pr_number = ?")
        params.append(pr)
    if status is not None:
        conditions.append("s.status = ?")
        params.append(status)
    if since is not None:
        conditions.append("julianday(s.start_time) >= julianday(?)")
        params.append(since)
    params.append(limit)
    rows = db.query(
        "SELECT s.*, u.github_username FROM time_sessions AS s"
        " LEFT JOIN users AS u ON u.id = s.user_id"
        f" WHERE {' AND '.join(conditions)} ORDER BY s.start_time DESC, s.id DESC LIMIT ?",
        params,
    )
    return SessionList(tuple(_session(r) for r in rows))


@dataclass(frozen=True)
class Closed:
    """One stale session and what it becomes."""

    session: Session
    new_status: str
    end_time: str | None
    duration_seconds: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.session.to_json(),
            "new_status": self.new_status,
            "new_end_time": self.end_time,
            "new_duration_seconds": self.duration_seconds,
        }


@dataclass(frozen=True)
class CloseResult:
    dry_run: bool
    cutoff: str
    closed: tuple[Closed, ...]
    rebuilt_days: tuple[str, ...]  # first and last day rebuilt, when any

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "cutoff": self.cutoff,
            "closed": [c.to_json() for c in self.closed],
            "rebuilt_days": list(self.rebuilt_days),
        }


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def close_stale(
    db: Database,
    *,
    older_than: int,
    as_status: str = "abandoned",
    cap: int = 8 * 3600,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> CloseResult:
    """Close `active` sessions that started before now - older_than (one batch)."""
    moment = (now or clock.now()).replace(microsecond=0)
    now_text = _stamp(moment)
    cutoff = _stamp(moment - dt.timedelta(seconds=older_than))
    cap_modifier = f"+{int(cap)} seconds"
    # end = min(now, start + cap), as the seed's `YYYY-MM-DD HH:MM:SS`; the duration uses
    # the same rule as daily_stats (whole seconds, rounded down).
    end_sql = (
        "CASE WHEN julianday(s.start_time, ?) < julianday(?) THEN datetime(s.start_time, ?)"
        " ELSE datetime(?) END"
    )
    end_params = [cap_modifier, now_text, cap_modifier, now_text]
    rows = db.query(
        f"SELECT s.*, u.github_username, {end_sql} AS new_end, {stats.day_expression(None, None, None)}"
        " AS day FROM time_sessions AS s LEFT JOIN users AS u ON u.id = s.user_id"
        " WHERE s.status = 'active' AND julianday(s.start_time) < julianday(?)"
        " ORDER BY s.start_time, s.id",
        [*end_params, cutoff],
    )
    closed = []
    for row in rows:
        session = _session(row)
        if as_status == "completed":
            end = str(row["new_end"])
            duration = _seconds_between(session.start_time, end)
            closed.append(Closed(session, "completed", end, duration))
        else:
            closed.append(Closed(session, "abandoned", None, None))
    days = sorted({str(r["day"]) for r in rows if r["day"] is not None})
    rebuilt = (days[0], days[-1]) if days and as_status == "completed" else ()
    if dry_run or not closed:
        return CloseResult(dry_run, cutoff, tuple(closed), rebuilt)
    statements: list[Statement] = []
    ids = [c.session.id for c in closed]
    for start in range(0, len(ids), _MAX_IDS):
        chunk = ids[start : start + _MAX_IDS]
        marks = ", ".join("?" for _ in chunk)
        if as_status == "completed":
            statements.append(
                (
                    f"UPDATE time_sessions AS s SET status = 'completed', end_time = {end_sql}"
                    f" WHERE s.status = 'active' AND s.id IN ({marks})",
                    [*end_params, *chunk],
                )
            )
            statements.append(
                (
                    "UPDATE time_sessions SET duration_seconds = CAST(round((julianday(end_time)"
                    " - julianday(start_time)) * 86400000) AS INTEGER) / 1000"
                    f" WHERE id IN ({marks})",
                    chunk,
                )
            )
        else:
            statements.append(
                (
                    "UPDATE time_sessions SET status = 'abandoned'"
                    f" WHERE status = 'active' AND id IN ({marks})",
                    chunk,
                )
            )
    if rebuilt:
        statements.extend(stats.rebuild_statements(stats.Selection(rebuilt[0], rebuilt[1])))
    db.batch(statements)
    return CloseResult(False, cutoff, tuple(closed), rebuilt)


def _seconds_between(start: str, end: str) -> int | None:
    try:
        a = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(end)
    except ValueError:
        return None
    if a.tzinfo is not None:
        a = a.astimezone(dt.UTC).replace(tzinfo=None)
    return max(0, int((b - a).total_seconds()))
