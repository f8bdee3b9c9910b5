"""daily_stats as SQL agrees with the definition computed in plain Python (property-based)."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.admin.support import schema_db, stats_rows
from worktime_cli.admin import stats

ZONES = [None, "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
BAD_TIMESTAMPS = [
    "garbage",
    "now",
    "2460000.5",
    "2024-13-01 00:00:00",
    "2024-02-30 10:00:00",
    "2024-01-01 24:00:00",
    "",
    "2024-01-01 10:00:00 junk",
]
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:\d{2})?"
)


def parse(text: str | None) -> dt.datetime | None:
    """The definition's timestamp formats, independently of SQLite."""
    if text is None:
        return None
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:3].ljust(3, "0")) * 1000,
            tzinfo=dt.UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment


def expected(sessions: list[dict[str, Any]], zone: str | None) -> dict[Any, tuple[int, int, int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for s in sessions:
        if s["status"] != "completed":
            continue
        start = parse(s["start_time"])
        if start is None:
            continue
        if s["duration_seconds"] is not None:
            duration = s["duration_seconds"]
        else:
            end = parse(s["end_time"])
            if end is None:
                continue
            millis = (end - start) // dt.timedelta(milliseconds=1)
            duration = millis // 1000 if millis >= 0 else -1
        if duration < 0:
            continue
        day = (start.astimezone(ZoneInfo(zone)) if zone else start).date().isoformat()
        groups[(s["user_id"], "acme", s["repo"], day)].append(duration)
    return {k: (sum(v), len(v), sum(v) // len(v)) for k, v in groups.items()}


def render(moment: dt.datetime, style: int, offset_minutes: int) -> str:
    if style == 0:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if style == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if style == 2:
        local = moment + dt.timedelta(minutes=offset_minutes)
        sign = "+" if offset_minutes >= 0 else "-"
        hours, minutes = divmod(abs(offset_minutes), 60)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"
    return moment.strftime("%Y-%m-%d %H:%M")


instants = st.datetimes(
    min_value=dt.datetime(2023, 3, 20), max_value=dt.datetime(2024, 11, 10)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@st.composite
def session(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(instants)
    length = draw(st.one_of(st.integers(0, 4 * 3600), st.integers(-3600, -1)))
    end = start + dt.timedelta(seconds=length, milliseconds=draw(st.integers(0, 999)))
    style = draw(st.integers(0, 3))
    offset = draw(st.sampled_from([0, 120, -300, 330, 765]))
    start_text = draw(
        st.one_of(st.just(render(start, style, offset)), st.sampled_from(BAD_TIMESTAMPS))
    )
    end_text = draw(
        st.one_of(
            st.just(render(end, draw(st.integers(0, 3)), offset)),
            st.none(),
            st.sampled_from(BAD_TIMESTAMPS[:2]),
        )
    )
    return {
        "user_id": draw(st.integers(1, 3)),
        "repo": draw(st.sampled_from(["api", "web"])),
        "status": draw(st.sampled_from(["completed", "completed", "active", "abandoned"])),
        "start_time": start_text,
        "end_time": end_text,
        "duration_seconds": draw(st.one_of(st.none(), st.none(), st.integers(-5, 20_000))),
    }


_DB: dict[str, Any] = {}


def database() -> Any:
    if "db" not in _DB:
        folder = Path(tempfile.mkdtemp(prefix="worktime-stats-"))
        db = schema_db(folder / "stats.sqlite")
        db.batch(
            [
                (
                    "INSERT INTO users (id, github_user_id, github_username) VALUES (?, ?, ?)",
                    (i, f"gh{i}", f"user{i}"),
                )
                for i in (1, 2, 3)
            ]
        )
        _DB["db"] = db
    db = _DB["db"]
    db.batch([("DELETE FROM daily_stats", ()), ("DELETE FROM time_sessions", ())])
    return db


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(session(), max_size=25), st.sampled_from(ZONES))
def test_rebuild_matches_plain_python(sessions: list[dict[str, Any]], zone: str | None) -> None:
    db = database()
    db.batch(
        [
            (
                "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time,"
                " end_time, duration_seconds, status) VALUES (?, 'acme', ?, 1, ?, ?, ?, ?)",
                (
                    s["user_id"],
                    s["repo"],
                    s["start_time"],
                    s["end_time"],
                    s["duration_seconds"],
                    s["status"],
                ),
            )
            for s in sessions
        ]
    )
    selection = stats.Selection(zone=ZoneInfo(zone) if zone else None)
    want = expected(sessions, zone)
    assert stats.check(db, selection).ok == (want == {})
    result = stats.rebuild(db, selection)
    assert stats_rows(db) == want
    assert result.inserted == len(want)
    assert stats.check(db, selection).ok
    assert stats.rebuild(db, selection).inserted == 0  # idempotent


@settings(max_examples=25, deadline=None)
@given(
    st.lists(session(), max_size=20),
    st.sampled_from(ZONES),
    st.dates(dt.date(2023, 3, 1), dt.date(2024, 12, 1)),
    st.integers(0, 200),
    st.sampled_from([None, 2]),
)
def test_partial_rebuild_touches_only_its_range(
    sessions: list[dict[str, Any]], zone: str | None, first: dt.date, days: int, user: int | None
) -> None:
    db = database()
    # Stale rows everywhere, so the test sees what the rebuild deletes, keeps and leaves alone.
    db.batch(
        [
            (
                "INSERT INTO daily_stats (user_id, repo_owner, repo_name, date, total_duration_seconds,"
                " session_count, avg_session_seconds) VALUES (?, 'acme', 'api', ?, 7, 7, 7)",
                (u, (dt.date(2023, 3, 1) + dt.timedelta(days=d)).isoformat()),
            )
            for u in (1, 2, 3)
            for d in range(0, 640, 9)
        ]
    )
    db.batch(
        [
            (
                "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time,"
                " end_time, duration_seconds, status) VALUES (?, 'acme', ?, 1, ?, ?, ?, ?)",
                (
                    s["user_id"],
                    s["repo"],
                    s["start_time"],
                    s["end_time"],
                    s["duration_seconds"],
                    s["status"],
                ),
            )
            for s in sessions
        ]
    )
    before = {r["id"]: r for r in db.query("SELECT * FROM daily_stats")}
    last = (first + dt.timedelta(days=days)).isoformat()
    selection = stats.Selection(first.isoformat(), last, user, ZoneInfo(zone) if zone else None)
    stats.rebuild(db, selection)
    after = {r["id"]: r for r in db.query("SELECT * FROM daily_stats")}

    def inside(key: tuple[Any, ...]) -> bool:
        return first.isoformat() <= key[3] <= last and (user is None or key[0] == user)

    want = {k: v for k, v in expected(sessions, zone).items() if inside(k)}
    got = {
        (r["user_id"], r["repo_owner"], r["repo_name"], r["date"]): (
            r["total_duration_seconds"],
            r["session_count"],
            r["avg_session_seconds"],
        )
        for r in after.values()
    }
    assert {k: v for k, v in got.items() if inside(k)} == want
    untouched = {
        i: r
        for i, r in before.items()
        if not inside((r["user_id"], r["repo_owner"], r["repo_name"], r["date"]))
    }
    assert {i: after.get(i) for i in untouched} == untouched
    for i, row in before.items():  # a surviving key keeps its id
        key = (row["user_id"], row["repo_owner"], row["repo_name"], row["date"])
        if key in want:
            assert after[i]["date"] == row["date"]
    assert stats.check(db, selection).ok
