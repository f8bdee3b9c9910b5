"""Demo data is history: every session starts and ends at or before the clock (issue 23, 2)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.support.dev import d1_file, make_project
from worktime_cli import clock, d1
from worktime_cli.admin import demo

# Evening of the last day (sessions there would run past now), just after midnight (the last
# day is almost empty), a leap day, a year end, and an --end after now.
MOMENTS = [
    (dt.date(2026, 6, 15), dt.datetime(2026, 6, 15, 14, 30)),
    (dt.date(2026, 6, 16), dt.datetime(2026, 6, 16, 0, 5)),
    (dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 23, 59, 59)),
    (dt.date(2026, 12, 31), dt.datetime(2026, 12, 31, 8)),
    (dt.date(2026, 7, 10), dt.datetime(2026, 7, 1, 12)),
]


def _moment(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "")).replace(tzinfo=None)


@pytest.mark.parametrize(("end", "now"), MOMENTS, ids=[str(m[1]) for m in MOMENTS])
def test_no_session_starts_or_ends_after_now(end: dt.date, now: dt.datetime):
    data = demo.generate(users=20, days=30, seed=42, end=end, now=now)
    assert data.sessions
    for session in data.sessions:
        start, finish = session[4], session[5]
        assert _moment(start) <= now, session
        assert finish is None or _moment(finish) <= now, session


def test_the_rows_before_now_do_not_depend_on_where_now_falls():
    """A later `now` on the same day only adds the sessions that have ended by then."""
    end = dt.date(2026, 6, 15)
    noon = demo.generate(seed=5, end=end, now=dt.datetime(2026, 6, 15, 12))
    night = demo.generate(seed=5, end=end, now=dt.datetime(2026, 6, 15, 23, 59, 59))
    finished = {s for s in night.sessions if s[7] != "active"}
    earlier = {s for s in noon.sessions if s[7] != "active"}
    assert earlier < finished
    assert noon.users == night.users


def test_the_same_seed_and_clock_give_the_same_rows():
    args = {"seed": 9, "end": dt.date(2026, 6, 15), "now": dt.datetime(2026, 6, 15, 14)}
    assert demo.generate(**args) == demo.generate(**args)  # type: ignore[arg-type]


def test_seeded_rows_are_in_the_past_of_the_clock(cli, project: Path, frozen_clock: dt.datetime):
    make_project(project)
    result = cli("demo", "seed", "worktime-db", "--users", "8", "--days", "5", "--json")
    assert result.exit_code == 0, result.stderr
    seeded = json.loads(result.stdout)
    assert seeded["last_day"] == frozen_clock.date().isoformat()
    conn = d1.connect(d1_file(project))
    try:
        latest = conn.execute(
            "SELECT max(max(datetime(start_time)), max(coalesce(datetime(end_time), ''))),"
            " (SELECT max(datetime(last_active)) FROM users) FROM time_sessions"
        ).fetchone()
    finally:
        conn.close()
    now = clock.now().replace(tzinfo=None)
    assert _moment(latest[0]) <= now and _moment(latest[1]) <= now
