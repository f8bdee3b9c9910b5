"""Usage values name what is wrong; the JSON shapes scripts parse are pinned."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.admin.support import add_session, add_user, schema_db
from worktime_cli.admin import inputs, report, stats
from worktime_cli.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"), [("12h", 43200), ("90m", 5400), ("1d12h", 129600), ("45s", 45), ("30", 30)]
)
def test_durations(text: str, seconds: int) -> None:
    assert inputs.parse_duration(text, "--older-than") == seconds


@pytest.mark.parametrize("text", ["12x", "", "h", "1.5h", "-3h"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(UsageError, match=f"--older-than {text!r} is not a duration"):
        inputs.parse_duration(text, "--older-than")


def test_dates_zones_repos() -> None:
    assert inputs.parse_range("2024-01-01", "2024-01-01") == ("2024-01-01", "2024-01-01")
    with pytest.raises(UsageError, match="is after --to"):
        inputs.parse_range("2024-02-01", "2024-01-01")
    with pytest.raises(UsageError, match="'2024-1-1' is not a date"):
        inputs.parse_date("2024-1-1", "--from")
    with pytest.raises(UsageError, match="not a known time zone"):
        inputs.parse_zone("Europe/Atlantis")
    assert inputs.parse_repo("acme/api") == ("acme", "api")
    with pytest.raises(UsageError, match="is not OWNER/NAME"):
        inputs.parse_repo("acme")


def test_json_shapes(tmp_path: Path) -> None:
    db = schema_db(tmp_path / "db.sqlite")
    alice = add_user(db, "alice")
    add_session(db, alice, start_time="2024-06-01 10:00:00", duration_seconds=90)
    add_session(db, alice, start_time="not a time", duration_seconds=90)
    check = stats.check(db, stats.Selection("2024-06-01", "2024-06-30")).to_json()
    assert check == {
        "selection": {"from": "2024-06-01", "to": "2024-06-30", "user_id": None, "tz": None},
        "ok": False,
        "differences": [
            {
                "action": "insert",
                "user_id": alice,
                "login": "alice",
                "repo": "acme/api",
                "date": "2024-06-01",
                "old": None,
                "new": {
                    "total_duration_seconds": 90,
                    "session_count": 1,
                    "avg_session_seconds": 90,
                },
            }
        ],
        "anomalies": {
            "total": 1,
            "sample": [{"session_id": 2, "reason": "start_time is not a timestamp"}],
        },
    }
    rebuilt = stats.rebuild(db, stats.Selection()).to_json()
    assert set(rebuilt) == {"selection", "dry_run", "inserted", "deleted", "kept", "anomalies"}
    assert report.report(db, "day", report.Filters()).to_json() == {
        "by": "day",
        "source": "daily_stats",
        "filters": {"from": None, "to": None, "user_id": None, "repo": None},
        "rows": [{"day": "2024-06-01", "total_seconds": 90, "sessions": 1}],
        "total_seconds": 90,
        "sessions": 1,
    }
