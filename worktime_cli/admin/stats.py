"""The one definition of `daily_stats`, as SQL that runs the same on local D1 and on Cloudflare.

A session counts iff `status = 'completed'` and its duration is known: `duration_seconds`
(an integer) when not NULL, else `end_time - start_time` in whole seconds (rounded down, at
SQLite's millisecond precision) when `end_time` is not NULL. A negative or uncomputable
duration does not count and is reported as an anomaly, as is a `start_time` that is not a
timestamp. Its day is the calendar date of `start_time` in UTC, or in `--tz ZONE`.

Per (user_id, repo_owner, repo_name, date): total = sum, count, avg = sum / count rounded down.

Timestamps are SQLite's own formats: `YYYY-MM-DD HH:MM[:SS[.fff]]`, with `T` instead of the
space, and an optional `Z` or `±HH:MM`. SQLite's date functions also accept `now`, bare
Julian day numbers, `24:00:00` and Feb 30 (echoed back as is), so a value counts as a
timestamp only if it starts with a date and `date(x)` equals the date of its Julian day.

Zones: SQLite has no zone database, so `--tz` becomes a `CASE` over the zone's UTC offsets
(computed here from zoneinfo, as a binary search on the instant in milliseconds) that picks
the `±N seconds` modifier for each session. The literals are integers we generate, never
user input.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worktime_cli.admin import schema
from worktime_cli.admin.targets import Database, Statement
from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

# Milliseconds from the Julian day epoch to the Unix epoch (julianday('1970-01-01') * 86400000).
_UNIX_EPOCH_JMS = 210_866_760_000_000
ANOMALY_SAMPLE = 20


def _valid(column: str) -> str:
    return (
        f"({column} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        f" AND date({column}) = date(julianday({column})))"
    )


def _jms(column: str) -> str:
    return f"CAST(round(julianday({column}) * 86400000) AS INTEGER)"


# duration_seconds when given (and an integer); else end - start in whole seconds. A negative
# difference stays negative (integer division would turn -0.5 s into 0), so it is an anomaly.
_DURATION = (
    "CASE WHEN s.duration_seconds IS NOT NULL THEN"
    " CASE WHEN typeof(s.duration_seconds) = 'integer' THEN s.duration_seconds END"
    f" WHEN s.end_time IS NOT NULL AND {_valid('s.end_time')} THEN"
    " CASE WHEN julianday(s.end_time) >= julianday(s.start_time) THEN"
    " CAST(round((julianday(s.end_time) - julianday(s.start_time)) * 86400000) AS INTEGER)"
    " / 1000 ELSE -1 END END"
)
_REASON = (
    f"CASE WHEN NOT coalesce({_valid('s.start_time')}, 0) THEN 'start_time is not a timestamp'"
    " WHEN s.duration_seconds IS NOT NULL AND typeof(s.duration_seconds) <> 'integer'"
    " THEN 'duration_seconds is not an integer'"
    " WHEN s.duration_seconds IS NOT NULL THEN 'negative duration_seconds'"
    " WHEN s.end_time IS NULL THEN 'no duration: duration_seconds and end_time are NULL'"
    f" WHEN NOT coalesce({_valid('s.end_time')}, 0) THEN 'end_time is not a timestamp'"
    " ELSE 'end_time is before start_time' END"
)


@dataclass(frozen=True)
class Selection:
    """Which days and users a command covers. `user_id=None`: everyone; no dates: all days."""

    date_from: str | None = None
    date_to: str | None = None
    user_id: int | None = None
    zone: ZoneInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.date_from,
            "to": self.date_to,
            "user_id": self.user_id,
            "tz": None if self.zone is None else self.zone.key,
        }

    def stats_where(self, alias: str = "daily_stats") -> tuple[str, list[Any]]:
        """The WHERE condition on daily_stats rows inside the selection."""
        conditions: list[str] = ["1"]
        params: list[Any] = []
        if self.date_from is not None:
            conditions.append(f"{alias}.date >= ?")
            params.append(self.date_from)
        if self.date_to is not None:
            conditions.append(f"{alias}.date <= ?")
            params.append(self.date_to)
        if self.user_id is not None:
            conditions.append(f"{alias}.user_id = ?")
            params.append(self.user_id)
        return " AND ".join(conditions), params


def day_expression(zone: ZoneInfo | None, date_from: str | None, date_to: str | None) -> str:
    """SQL for a session's day (NULL when start_time is not a timestamp)."""
    if zone is None:
        return f"CASE WHEN {_valid('s.start_time')} THEN date(s.start_time) END"
    offsets = zone_offsets(zone, date_from, date_to)
    modifier = _offset_case(_jms("s.start_time"), offsets)
    return f"CASE WHEN {_valid('s.start_time')} THEN date(s.start_time, {modifier}) END"


def session_rows(selection: Selection, *, reasons: bool = False) -> tuple[str, list[Any]]:
    """Completed sessions of the selection with their computed `day` and `dur` (maybe NULL)."""
    day = day_expression(selection.zone, selection.date_from, selection.date_to)
    columns = (
        "s.id AS id, s.user_id AS user_id, s.repo_owner AS repo_owner,"
        f" s.repo_name AS repo_name, s.pr_number AS pr_number, {day} AS day, {_DURATION} AS dur"
    )
    if reasons:
        columns += f", {_REASON} AS reason, s.start_time AS start_time"
    sql = f"SELECT {columns} FROM time_sessions AS s WHERE s.status = 'completed'"
    params: list[Any] = []
    if selection.user_id is not None:
        sql += " AND s.user_id = ?"
        params.append(selection.user_id)
    return sql, params


def _day_range(selection: Selection, column: str = "day") -> tuple[str, list[Any]]:
    conditions, params = [], []
    if selection.date_from is not None:
        conditions.append(f"{column} >= ?")
        params.append(selection.date_from)
    if selection.date_to is not None:
        conditions.append(f"{column} <= ?")
        params.append(selection.date_to)
    return "".join(f" AND {c}" for c in conditions), params


def aggregate(selection: Selection) -> tuple[str, list[Any]]:
    """The daily_stats rows the sessions of the selection define (columns as the table's)."""
    rows, params = session_rows(selection)
    in_range, range_params = _day_range(selection)
    sql = (
        "SELECT user_id, repo_owner, repo_name, day AS date,"
        " sum(dur) AS total_duration_seconds, count(*) AS session_count,"
        " sum(dur) / count(*) AS avg_session_seconds"
        f" FROM ({rows}) WHERE day IS NOT NULL AND dur >= 0{in_range}"
        " GROUP BY user_id, repo_owner, repo_name, day"
    )
    return sql, params + range_params


def anomalies_statement(selection: Selection) -> Statement:
    """Completed sessions that cannot count: a sample, each row with the total count."""
    rows, params = session_rows(selection, reasons=True)
    in_range, range_params = _day_range(selection)
    sql = (
        "SELECT id, reason, start_time, count(*) OVER () AS total"
        f" FROM ({rows}) WHERE (day IS NULL OR dur IS NULL OR dur < 0)"
        f" AND (day IS NULL OR 1{in_range}) ORDER BY id LIMIT {ANOMALY_SAMPLE}"
    )
    return sql, params + range_params


def rebuild_statements(selection: Selection) -> list[Statement]:
    """The rebuild as one batch: mark the selection, upsert, delete what no session backs.

    Marking (`session_count = NULL`) lets one aggregation pass both refresh survivors (their
    ids kept by the upsert on the UNIQUE key) and find rows left without sessions. The batch
    is one transaction, so no reader ever sees a mark. `changes()` after each write reports
    the counts without returning rows.
    """
    where, where_params = selection.stats_where()
    agg, agg_params = aggregate(selection)
    return [
        (f"SELECT count(*) AS n FROM daily_stats WHERE {where}", where_params),
        (f"UPDATE daily_stats SET session_count = NULL WHERE {where}", where_params),
        (
            "INSERT INTO daily_stats (user_id, repo_owner, repo_name, date,"
            " total_duration_seconds, session_count, avg_session_seconds)"
            f" SELECT * FROM ({agg}) WHERE true"
            " ON CONFLICT (user_id, repo_owner, repo_name, date) DO UPDATE SET"
            " total_duration_seconds = excluded.total_duration_seconds,"
            " session_count = excluded.session_count,"
            " avg_session_seconds = excluded.avg_session_seconds",
            agg_params,
        ),
        ("SELECT changes() AS n", ()),
        (f"DELETE FROM daily_stats WHERE {where} AND session_count IS NULL", where_params),
        ("SELECT changes() AS n", ()),
        anomalies_statement(selection),
    ]


def diff_statement(selection: Selection) -> Statement:
    """Rows to insert, update and delete to make daily_stats agree, with old and new totals."""
    where, where_params = selection.stats_where("d")
    agg, agg_params = aggregate(selection)
    key = "user_id, repo_owner, repo_name, date"
    old = "c.total_duration_seconds, c.session_count, c.avg_session_seconds"
    new = "a.total_duration_seconds, a.session_count, a.avg_session_seconds"
    nulls = "NULL, NULL, NULL"
    # The UNION's column names come from its first SELECT: every column is named there.
    first_old = "NULL AS old_total, NULL AS old_count, NULL AS old_avg"
    first_new = (
        "a.total_duration_seconds AS new_total, a.session_count AS new_count,"
        " a.avg_session_seconds AS new_avg"
    )
    sql = (
        f"WITH a AS ({agg}),"
        f" c AS (SELECT d.* FROM daily_stats AS d WHERE {where}),"
        " diff AS ("
        "SELECT 'insert' AS action, a.user_id AS user_id, a.repo_owner AS repo_owner,"
        f" a.repo_name AS repo_name, a.date AS date, {first_old}, {first_new}"
        f" FROM a LEFT JOIN c USING ({key}) WHERE c.id IS NULL"
        f" UNION ALL SELECT 'update', a.user_id, a.repo_owner, a.repo_name, a.date, {old}, {new}"
        f" FROM a JOIN c USING ({key})"
        " WHERE c.total_duration_seconds IS NOT a.total_duration_seconds"
        " OR c.session_count IS NOT a.session_count"
        " OR c.avg_session_seconds IS NOT a.avg_session_seconds"
        f" UNION ALL SELECT 'delete', c.user_id, c.repo_owner, c.repo_name, c.date, {old}, {nulls}"
        f" FROM c LEFT JOIN a USING ({key}) WHERE a.user_id IS NULL)"
        " SELECT diff.*, u.github_username AS login FROM diff"
        " LEFT JOIN users AS u ON u.id = diff.user_id"
        " ORDER BY diff.date, diff.user_id, diff.repo_owner, diff.repo_name"
    )
    return sql, agg_params + where_params


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    total_seconds: int | None
    sessions: int | None
    avg_seconds: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "total_duration_seconds": self.total_seconds,
            "session_count": self.sessions,
            "avg_session_seconds": self.avg_seconds,
        }


@dataclass(frozen=True)
class Change:
    """One daily_stats row that differs: `insert` (new only), `update`, `delete` (old only)."""

    action: str
    user_id: int
    login: str | None
    repo: str
    date: str
    old: Totals | None
    new: Totals | None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "user_id": self.user_id,
            "login": self.login,
            "repo": self.repo,
            "date": self.date,
            "old": None if self.old is None else self.old.to_json(),
            "new": None if self.new is None else self.new.to_json(),
        }


@dataclass(frozen=True)
class Anomaly:
    session_id: int
    reason: str
    start_time: Any

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "reason": self.reason}


@dataclass(frozen=True)
class Anomalies:
    """How many completed sessions cannot count, and the first few of them."""

    total: int = 0
    sample: tuple[Anomaly, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "sample": [a.to_json() for a in self.sample]}


@dataclass(frozen=True)
class RebuildResult:
    """A rebuild (or, with `dry_run`, what it would change)."""

    selection: Selection
    dry_run: bool
    inserted: int
    deleted: int
    updated: int | None  # exact with --dry-run; a real run reports `kept` (recomputed in place)
    kept: int
    anomalies: Anomalies
    changes: tuple[Change, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "selection": self.selection.to_json(),
            "dry_run": self.dry_run,
            "inserted": self.inserted,
            "deleted": self.deleted,
            "kept": self.kept,
            "anomalies": self.anomalies.to_json(),
        }
        if self.dry_run:
            data["updated"] = self.updated
            data["changes"] = [c.to_json() for c in self.changes]
        return data


@dataclass(frozen=True)
class CheckResult:
    selection: Selection
    changes: tuple[Change, ...]
    anomalies: Anomalies

    @property
    def ok(self) -> bool:
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        return {
            "selection": self.selection.to_json(),
            "ok": self.ok,
            "differences": [c.to_json() for c in self.changes],
            "anomalies": self.anomalies.to_json(),
        }


# --- commands ------------------------------------------------------------------------------


def rebuild(db: Database, selection: Selection, *, dry_run: bool = False) -> RebuildResult:
    """Recompute daily_stats for the selection in one transaction (one batch)."""
    if dry_run:
        changes, anomalies = _diff(db, selection)
        counts = {a: sum(1 for c in changes if c.action == a) for a in ("insert", "update")}
        deleted = sum(1 for c in changes if c.action == "delete")
        before = _count(db, selection)
        return RebuildResult(
            selection=selection,
            dry_run=True,
            inserted=counts["insert"],
            deleted=deleted,
            updated=counts["update"],
            kept=before - deleted,
            anomalies=anomalies,
            changes=changes,
        )
    results = _batch(db, rebuild_statements(selection))
    before = int(results[0][0]["n"])
    written = int(results[3][0]["n"])
    deleted = int(results[5][0]["n"])
    kept = before - deleted
    return RebuildResult(
        selection=selection,
        dry_run=False,
        inserted=written - kept,
        deleted=deleted,
        updated=None,
        kept=kept,
        anomalies=_anomalies(results[6]),
    )


def check(db: Database, selection: Selection) -> CheckResult:
    """Compare daily_stats with time_sessions for the selection; changes nothing."""
    changes, anomalies = _diff(db, selection)
    return CheckResult(selection=selection, changes=changes, anomalies=anomalies)


def _count(db: Database, selection: Selection) -> int:
    where, params = selection.stats_where()
    return int(db.query(f"SELECT count(*) AS n FROM daily_stats WHERE {where}", params)[0]["n"])


def _diff(db: Database, selection: Selection) -> tuple[tuple[Change, ...], Anomalies]:
    results = _batch(db, [diff_statement(selection), anomalies_statement(selection)])
    changes = tuple(_change(row) for row in results[0])
    return changes, _anomalies(results[1])


def _batch(db: Database, statements: Sequence[Statement]) -> list[list[dict[str, Any]]]:
    try:
        return db.batch(statements)
    except WorktimeError as exc:
        raise schema.explain_failure(db, exc) from None


def _change(row: dict[str, Any]) -> Change:
    action = str(row["action"])
    old = Totals(row["old_total"], row["old_count"], row["old_avg"])
    new = Totals(row["new_total"], row["new_count"], row["new_avg"])
    return Change(
        action=action,
        user_id=int(row["user_id"]),
        login=row.get("login"),
        repo=f"{row['repo_owner']}/{row['repo_name']}",
        date=str(row["date"]),
        old=None if action == "insert" else old,
        new=None if action == "delete" else new,
    )


def _anomalies(rows: list[dict[str, Any]]) -> Anomalies:
    if not rows:
        return Anomalies()
    return Anomalies(
        total=int(rows[0]["total"]),
        sample=tuple(Anomaly(int(r["id"]), str(r["reason"]), r["start_time"]) for r in rows),
    )


# --- zones ---------------------------------------------------------------------------------

_ZONE_WINDOW = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


@functools.lru_cache(maxsize=32)
def zone_offsets(
    zone: ZoneInfo, date_from: str | None = None, date_to: str | None = None
) -> list[tuple[int, int]]:
    """[(from_unix_ms, offset_seconds), …]: the zone's UTC offsets, first one from -infinity.

    Covers 1970–2100, or the selected dates ± 2 days; outside, the nearest offset applies.
    """
    start, end = _ZONE_WINDOW
    if date_from is not None:
        start = max(start, dt.datetime.fromisoformat(date_from).replace(tzinfo=dt.UTC))
        start -= dt.timedelta(days=2)
    if date_to is not None:
        end = min(end, dt.datetime.fromisoformat(date_to).replace(tzinfo=dt.UTC))
        end += dt.timedelta(days=3)

    def offset(moment: dt.datetime) -> int:
        delta = moment.astimezone(zone).utcoffset()
        return 0 if delta is None else int(delta.total_seconds())

    current = offset(start)
    result = [(-(2**62), current)]
    day = dt.timedelta(days=1)
    moment = start
    while moment < end:
        following = moment + day
        if offset(following) != current:
            low, high = moment, following  # offset(low) == current != offset(high)
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            current = offset(high)
            result.append((int(high.timestamp()) * 1000, current))
        moment = following
    return result


def _offset_case(jms: str, offsets: list[tuple[int, int]]) -> str:
    """A nested CASE choosing the `±N seconds` modifier by binary search on the instant."""

    def modifier(seconds: int) -> str:
        return f"'{seconds:+d} seconds'"

    def build(items: list[tuple[int, int]]) -> str:
        if len(items) == 1:
            return modifier(items[0][1])
        middle = len(items) // 2
        threshold = items[middle][0] + _UNIX_EPOCH_JMS
        return (
            f"CASE WHEN {jms} < {threshold} THEN {build(items[:middle])}"
            f" ELSE {build(items[middle:])} END"
        )

    return build(offsets)
