"""Tracked time by day, repo, PR or user, from daily_stats (or `exact` from time_sessions).

`--by pr` always reads time_sessions: daily_stats has no PR column. `exact` applies the one
definition of `stats` to the sessions directly, so it equals daily_stats when they agree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from worktime_cli.admin import stats
from worktime_cli.admin.targets import Database

GROUPINGS = ("day", "repo", "pr", "user")

# (shown key, label, GROUP BY columns). Grouping by the columns, not the joined text, lets
# SQLite walk idx_daily_stats_repo in order instead of sorting every row into a temp b-tree
# (a third faster on a year of 1,000 users), and keeps `a/b`+`c` apart from `a`+`b/c`.
_KEYS = {
    "day": ("date", "date", "date"),
    "repo": ("repo_owner || '/' || repo_name", "repo", "repo_owner, repo_name"),
    "pr": (
        "repo_owner || '/' || repo_name || '#' || pr_number",
        "pr",
        "repo_owner, repo_name, pr_number",
    ),
    "user": ("coalesce(u.github_username, '#' || x.user_id)", "user", "x.user_id"),
}


@dataclass(frozen=True)
class Filters:
    date_from: str | None = None
    date_to: str | None = None
    user_id: int | None = None
    repo: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.date_from,
            "to": self.date_to,
            "user_id": self.user_id,
            "repo": None if self.repo is None else "/".join(self.repo),
        }


@dataclass(frozen=True)
class Line:
    key: str
    total_seconds: int
    sessions: int

    def to_json(self, by: str) -> dict[str, Any]:
        return {by: self.key, "total_seconds": self.total_seconds, "sessions": self.sessions}


@dataclass(frozen=True)
class Report:
    by: str
    exact: bool
    filters: Filters
    lines: tuple[Line, ...]

    @property
    def total_seconds(self) -> int:
        return sum(line.total_seconds for line in self.lines)

    @property
    def sessions(self) -> int:
        return sum(line.sessions for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "source": "time_sessions" if self.exact or self.by == "pr" else "daily_stats",
            "filters": self.filters.to_json(),
            "rows": [line.to_json(self.by) for line in self.lines],
            "total_seconds": self.total_seconds,
            "sessions": self.sessions,
        }

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([self.by, "total_seconds", "hours", "sessions"])
        for line in self.lines:
            writer.writerow(
                [line.key, line.total_seconds, f"{line.total_seconds / 3600:.2f}", line.sessions]
            )
        return buffer.getvalue()


def _source(filters: Filters, *, exact: bool) -> tuple[str, list[Any], str, str]:
    """(FROM-able SQL, params, seconds column, sessions column) of the rows to group."""
    if exact:
        selection = stats.Selection(filters.date_from, filters.date_to, filters.user_id)
        rows, params = stats.session_rows(selection)
        in_range = []
        if filters.date_from is not None:
            in_range.append("day >= ?")
            params.append(filters.date_from)
        if filters.date_to is not None:
            in_range.append("day <= ?")
            params.append(filters.date_to)
        where = "".join(f" AND {c}" for c in in_range)
        sql = (
            "SELECT user_id, repo_owner, repo_name, pr_number, day AS date, dur"
            f" FROM ({rows}) WHERE day IS NOT NULL AND dur >= 0{where}"
        )
        return sql, params, "dur", "1"
    where, params = stats.Selection(
        filters.date_from, filters.date_to, filters.user_id
    ).stats_where()
    sql = f"SELECT * FROM daily_stats WHERE {where}"
    return sql, params, "total_duration_seconds", "session_count"


def report(db: Database, by: str, filters: Filters, *, exact: bool = False) -> Report:
    """Totals per `by` key, largest first (by day: in date order)."""
    exact = exact or by == "pr"
    source, params, seconds, count = _source(filters, exact=exact)
    if filters.repo is not None:
        source = f"SELECT * FROM ({source}) WHERE repo_owner = ? AND repo_name = ?"
        params = [*params, *filters.repo]
    key, _, group = _KEYS[by]
    order = "k" if by == "day" else "total DESC, k"
    sql = (
        f"SELECT {key} AS k, sum({seconds}) AS total, sum({count}) AS n FROM ({source}) AS x"
        f"{' LEFT JOIN users AS u ON u.id = x.user_id' if by == 'user' else ''}"
        f" GROUP BY {group} ORDER BY {order}"
    )
    rows = db.query(sql, params)
    lines = tuple(Line(str(r["k"]), int(r["total"] or 0), int(r["n"] or 0)) for r in rows)
    return Report(by=by, exact=exact, filters=filters, lines=lines)


@dataclass(frozen=True)
class Dashboard:
    """What the HTML page shows: time per day and repo, top PRs, active sessions."""

    filters: Filters
    per_day: Report
    per_repo: Report
    top_prs: Report
    active: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "filters": self.filters.to_json(),
            "per_day": self.per_day.to_json(),
            "per_repo": self.per_repo.to_json(),
            "top_prs": self.top_prs.to_json(),
            "active": list(self.active),
        }


def dashboard(db: Database, filters: Filters, *, exact: bool = False, top: int = 10) -> Dashboard:
    per_pr = report(db, "pr", filters, exact=True)
    active = db.query(
        "SELECT s.id, u.github_username AS login, s.repo_owner || '/' || s.repo_name AS repo,"
        " s.pr_number, s.start_time FROM time_sessions AS s LEFT JOIN users AS u"
        " ON u.id = s.user_id WHERE s.status = 'active' ORDER BY s.start_time DESC, s.id LIMIT 50"
    )
    return Dashboard(
        filters=filters,
        per_day=report(db, "day", filters, exact=exact),
        per_repo=report(db, "repo", filters, exact=exact),
        top_prs=Report("pr", True, filters, per_pr.lines[:top]),
        active=tuple(active),
    )


def hours(seconds: int) -> str:
    """`12h 05m` — readable in a table without colour."""
    minutes = seconds // 60
    return f"{minutes // 60}h {minutes % 60:02d}m"
