"""`worktime stats rebuild|check` end to end on a local D1 file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.admin.support import add_session, add_user, admin_project, stats_rows
from tests.conftest import Runner
from worktime_cli.admin.targets import SQLiteDatabase


def _seed(project: Path) -> int:
    db = admin_project(project)
    alice = add_user(db, "alice")
    add_session(db, alice, start_time="2024-06-01 23:30:00", end_time="2024-06-02 00:30:00")
    add_session(db, alice, start_time="2024-06-02 10:00:00", duration_seconds=600)
    add_session(db, alice, start_time="2024-06-03 10:00:00")  # no duration: an anomaly
    db.close()
    return alice


def test_check_fails_then_rebuild_fixes(cli: Runner, project: Path) -> None:
    _seed(project)
    result = cli("stats", "check")
    assert result.exit_code == 1
    assert "disagrees" in result.stderr and "2024-06-01" in result.stdout
    dry = cli("stats", "rebuild", "--dry-run", "--json")
    assert dry.exit_code == 0
    data = json.loads(dry.stdout)
    assert data["inserted"] == 2 and data["dry_run"] is True
    assert data["anomalies"]["total"] == 1
    assert cli("stats", "check").exit_code == 1  # dry run changed nothing
    done = cli("stats", "rebuild")
    assert done.exit_code == 0, done.output
    assert "2 inserted" in done.stderr
    assert "session 3: no duration" in done.stderr
    ok = cli("stats", "check", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True


def test_rebuild_for_one_user_and_zone(cli: Runner, project: Path) -> None:
    alice = _seed(project)
    result = cli("stats", "rebuild", "--user", "ALICE", "--tz", "Asia/Tokyo")
    assert result.exit_code == 0, result.output
    db = SQLiteDatabase(next(project.glob(".wrangler/state/v3/d1/*/*.sqlite")))
    assert stats_rows(db) == {(alice, "acme", "api", "2024-06-02"): (4200, 2, 2100)}


def test_bad_input_is_a_usage_error(cli: Runner, project: Path) -> None:
    _seed(project)
    for args, needle in [
        (["--from", "2024-06-31"], "'2024-06-31' is not a date"),
        (["--from", "2024-06-05", "--to", "2024-06-01"], "is after --to"),
        (["--tz", "Mars/Olympus"], "'Mars/Olympus' is not a known time zone"),
    ]:
        result = cli("stats", "check", *args)
        assert result.exit_code == 2, result.output
        assert needle in result.stderr
    unknown = cli("stats", "check", "--user", "alcie")
    assert unknown.exit_code == 1
    assert "no user 'alcie'" in unknown.stderr and "did you mean: alice" in unknown.stderr


def test_missing_schema_names_table_and_migration(cli: Runner, project: Path) -> None:
    db = admin_project(project)
    db.batch([("DROP TABLE daily_stats", ())])
    db.close()
    result = cli("stats", "check")
    assert result.exit_code == 1
    assert "table daily_stats" in result.stderr
    assert "0001_initial_schema.sql" in result.stderr


def test_every_command_names_the_missing_schema(cli: Runner, project: Path) -> None:
    db = admin_project(project)
    db.batch([("DROP TABLE daily_stats", ()), ("DROP TABLE time_sessions", ())])
    db.close()
    for args in (["users", "list"], ["report", "--by", "repo"], ["sessions", "list"]):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert "lacks the backend's schema: table time_sessions, table daily_stats" in result.stderr
        # This project has no migrations folder: the hint is the command that writes one.
        assert not (project / "migrations").exists()
        assert "0001_initial_schema.sql is missing: `worktime init`" in result.stderr
