"""D1 Time Travel on remote: `d1 time-travel info|restore` and the bookmark a remote
migrations run records first, against the fake Cloudflare API (real HTTP, real SQLite files).

The 2024 OpenAPI subset has no time-travel operations and no newer full `openapi.json` could be
fetched from cloudflare/api-schemas, so the requests are checked against the shapes wrangler
4.86's cli.js sends (`getBookmarkIdFromTimestamp`, `handleRestore`).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, Recorded, fake_fixture
from worktime_cli import clock
from worktime_cli.errors import UsageError
from worktime_cli.remote import time_travel
from worktime_cli.remote.client import from_environment

fake = pytest.fixture(name="fake")(fake_fixture)

BOOKMARK = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$")


@pytest.fixture
def remote_db(fake: FakeCloudflare, project: Path) -> str:
    db = fake.add_database("worktime-db")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{db.uuid}"\nmigrations_dir = "migrations"\n'
    )
    folder = project / "migrations"
    (folder / "down").mkdir(parents=True)
    (folder / "0001_init.sql").write_text("CREATE TABLE a (x);\n")
    (folder / "down" / "0001_init.sql").write_text("DROP TABLE a;\n")
    (folder / "0002_more.sql").write_text("CREATE TABLE b (y);\nINSERT INTO a VALUES (2);\n")
    (folder / "down" / "0002_more.sql").write_text("DROP TABLE b;\n")
    return db.uuid


def _tables(fake: FakeCloudflare, uuid: str) -> list[str]:
    rows = fake.sql(
        uuid,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    return [r[0] for r in rows]


def _check_wrangler_shape(fake: FakeCloudflare, uuid: str) -> None:
    """Every time-travel request is one wrangler sends: the path, method, query and headers."""
    base = f"/client/v4/accounts/{ACCOUNT}/d1/database/{uuid}/time_travel/"
    sent = [r for r in fake.requests if "/time_travel/" in r.path]
    assert sent
    for r in sent:
        assert r.path in (base + "bookmark", base + "restore")
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
        assert r.headers["content-type"] == "application/json"
        assert r.body == b""
        if r.path.endswith("/bookmark"):
            assert r.method == "GET"
            assert set(r.query) <= {"timestamp"}
            for stamp in r.query.get("timestamp", []):
                # convertTimestampToISO: Date.toISOString(), milliseconds and Z
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
        else:
            assert r.method == "POST"
            assert set(r.query) == {"bookmark"}  # wrangler resolves a timestamp first
            assert BOOKMARK.match(r.query["bookmark"][0])
        assert r.response["success"] is True


def test_info_prints_the_bookmark_and_the_restore_command(fake, cli, remote_db: str) -> None:
    shown = cli("d1", "time-travel", "info", "DB")
    assert shown.exit_code == 0, shown.output
    mark = shown.stdout.strip()
    assert BOOKMARK.match(mark)
    assert f"worktime d1 time-travel restore worktime-db --bookmark {mark}" in shown.stderr
    as_json = cli("d1", "time-travel", "info", "worktime-db", "--remote", "--json")
    assert as_json.exit_code == 0, as_json.output
    out = json.loads(as_json.stdout)
    assert set(out) == {"bookmark", "database", "database_id", "timestamp", "restore_command"}
    assert (out["database"], out["database_id"], out["timestamp"]) == (
        "worktime-db",
        remote_db,
        None,
    )
    assert (
        out["restore_command"]
        == f"worktime d1 time-travel restore worktime-db --bookmark {out['bookmark']}"
    )
    _check_wrangler_shape(fake, remote_db)


def test_apply_records_the_bookmark_first_and_restore_brings_back_that_state(
    fake, cli, remote_db: str
) -> None:
    first = cli("d1", "migrations", "apply", "DB", "--remote", "--to", "0001_init.sql")
    assert first.exit_code == 0, first.output
    assert (
        cli("d1", "execute", "DB", "--remote", "--command", "INSERT INTO a VALUES (1)").exit_code
        == 0
    )
    calls_before = len(fake.requests)

    applied = cli("d1", "migrations", "apply", "DB", "--remote", "--json")
    assert applied.exit_code == 0, applied.output
    out = json.loads(applied.stdout)
    mark = out["snapshot"]
    assert BOOKMARK.match(mark)
    # The bookmark was asked for before the first change of this run.
    run = fake.requests[calls_before:]
    asked = next(i for i, r in enumerate(run) if r.path.endswith("/time_travel/bookmark"))
    changed = next(
        i for i, r in enumerate(run) if r.path.endswith("/query") and "0002_more" in r.body.decode()
    )
    assert asked < changed
    assert "b" in _tables(fake, remote_db)

    refused = cli("d1", "time-travel", "restore", "DB", "--bookmark", mark)
    assert refused.exit_code == 1
    assert "refusing to restore the remote database worktime-db" in refused.stderr
    assert "b" in _tables(fake, remote_db)  # nothing sent without --yes
    assert not fake.calls("POST", "/time_travel/restore$")

    restored = cli("d1", "time-travel", "restore", "DB", "--bookmark", mark, "--yes", "--json")
    assert restored.exit_code == 0, restored.output
    result = json.loads(restored.stdout)
    assert result["bookmark"] == mark
    assert BOOKMARK.match(result["previous_bookmark"])
    assert result["undo_command"] == (
        f"worktime d1 time-travel restore worktime-db --bookmark {result['previous_bookmark']}"
    )
    # The pre-apply state: 0001 applied with its row, 0002's table and row gone.
    assert _tables(fake, remote_db) == ["a", "d1_migrations", "d1_migrations_worktime"]
    assert fake.sql(remote_db, "SELECT x FROM a") == [(1,)]
    assert fake.sql(remote_db, "SELECT name FROM d1_migrations") == [("0001_init.sql",)]
    listed = cli("d1", "migrations", "list", "DB", "--remote", "--json")
    assert json.loads(listed.stdout)["counts"]["pending"] == 1

    # and the restore is undone by its previous bookmark
    undo = cli(
        "d1", "time-travel", "restore", "DB", "--bookmark", result["previous_bookmark"], "--yes"
    )
    assert undo.exit_code == 0, undo.output
    assert "b" in _tables(fake, remote_db)
    assert f"restored worktime-db to bookmark {result['previous_bookmark']}" in undo.stderr
    _check_wrangler_shape(fake, remote_db)


def test_rollback_confirmation_names_the_command_back(fake, cli, remote_db: str) -> None:
    assert cli("d1", "migrations", "apply", "DB", "--remote").exit_code == 0
    refused = cli("d1", "migrations", "rollback", "DB", "--remote")
    assert refused.exit_code == 1  # no terminal, no --yes: nothing changed
    assert fake.sql(remote_db, "SELECT count(*) FROM d1_migrations") == [(2,)]
    rolled = cli("d1", "migrations", "rollback", "DB", "--remote", "--yes", "--json")
    assert rolled.exit_code == 0, rolled.output
    mark = json.loads(rolled.stdout)["snapshot"]
    assert "b" not in _tables(fake, remote_db)
    back = cli("d1", "time-travel", "restore", "DB", "--bookmark", mark, "--yes")
    assert back.exit_code == 0, back.output
    assert "b" in _tables(fake, remote_db)


def test_restore_by_timestamp_resolves_the_bookmark_first(fake, cli, remote_db: str) -> None:
    mark = cli("d1", "time-travel", "info", "DB").stdout.strip()
    time.sleep(0.01)
    stamp = clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert cli("d1", "migrations", "apply", "DB", "--remote").exit_code == 0
    restored = cli("d1", "time-travel", "restore", "DB", "--timestamp", stamp, "--yes", "--json")
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["bookmark"] == mark
    assert _tables(fake, remote_db) == []
    assert fake.calls("GET", "/time_travel/bookmark$")[-1].query == {"timestamp": [stamp]}
    _check_wrangler_shape(fake, remote_db)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--local",), "Time Travel is Cloudflare's"),
        (("--bookmark", "x", "--timestamp", "1764583200"), "cannot be combined"),
        ((), "give either --timestamp or --bookmark"),
        (("--timestamp", "yesterday"), "--timestamp is not a Unix time"),
        (("--timestamp", "2999-01-01T00:00:00Z"), "in the future"),
        (("--timestamp", "1000000000"), "more than 30 days ago"),
    ],
)
def test_restore_usage_errors_send_nothing(fake, cli, remote_db: str, args, message) -> None:
    refused = cli("d1", "time-travel", "restore", "DB", *args, "--yes")
    assert refused.exit_code == 2, refused.output
    assert message in refused.stderr
    assert not [r for r in fake.requests if "/time_travel/" in r.path]


def test_info_local_is_a_usage_error_naming_the_local_restore(fake, cli, remote_db: str) -> None:
    refused = cli("d1", "time-travel", "info", "DB", "--local")
    assert refused.exit_code == 2
    assert "worktime d1 restore" in refused.stderr
    assert not fake.requests


def test_unknown_bookmark_is_the_apis_error_as_json(fake, cli, remote_db: str) -> None:
    failed = cli("d1", "time-travel", "restore", "DB", "--bookmark", "nope", "--yes", "--json")
    assert failed.exit_code == 1
    error = json.loads(failed.stdout)["error"]
    assert "Invalid bookmark" in error["text"]


def test_core_parse_timestamp() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert (
        time_travel.parse_timestamp("2026-12-01T10:00:00Z", now=now) == "2026-12-01T10:00:00.000Z"
    )
    assert (
        time_travel.parse_timestamp("2026-12-01T11:00:00.5+01:00", now=now)
        == "2026-12-01T10:00:00.500Z"
    )
    seconds = int((now - timedelta(hours=1)).timestamp())
    assert time_travel.parse_timestamp(str(seconds), now=now) == "2026-12-01T11:00:00.000Z"
    assert time_travel.parse_timestamp(str(seconds * 1000), now=now) == "2026-12-01T11:00:00.000Z"
    for bad in ("2026-12-01T10:00:00", "", "2026-13-01T10:00:00Z", "9" * 30):
        with pytest.raises(UsageError):
            time_travel.parse_timestamp(bad, now=now)


def test_core_info_and_restore(fake: FakeCloudflare, remote_db: str) -> None:
    from worktime_cli.project import config

    cfg = config.load(None)
    with from_environment(cfg) as client:
        before = time_travel.info(client, cfg, "DB")
        import sqlite3

        conn = sqlite3.connect(fake.databases[remote_db].path)
        conn.execute("CREATE TABLE late (z)")
        conn.commit()
        conn.close()
        plan = time_travel.plan_restore(client, cfg, "worktime-db", bookmark_id=before.bookmark)
        assert (plan.database, plan.database_id, plan.bookmark) == (
            "worktime-db",
            remote_db,
            before.bookmark,
        )
        assert "late" in _tables(fake, remote_db)  # planning changes nothing
        result = time_travel.restore(client, plan)
    assert result.bookmark == before.bookmark
    assert result.message == "Database restored"
    assert _tables(fake, remote_db) == []


def test_confirmation_note_names_the_current_bookmark(fake: FakeCloudflare, remote_db: str) -> None:
    from worktime_cli.project import config
    from worktime_cli.remote.migrations import RemoteMigrations

    cfg = config.load(None)
    with from_environment(cfg) as client:
        target = RemoteMigrations(client, cfg, "DB")
        note = target.undo_note
        mark = fake.calls("GET", "/time_travel/bookmark$")[-1].response["result"]["bookmark"]
        assert note == f"to undo: `worktime d1 time-travel restore worktime-db --bookmark {mark}`"
        assert target.undo_note == note  # read once, not per mention
        assert len(fake.calls("GET", "/time_travel/bookmark$")) == 1
        point = target.before_run("rollback")
    # the run's own restore point is read afresh, just before the first change
    assert point is not None and point.operation == "rollback"
    assert len(fake.calls("GET", "/time_travel/bookmark$")) == 2


def test_apply_goes_ahead_with_a_timestamp_when_no_bookmark_can_be_read(
    fake: FakeCloudflare, cli, remote_db: str
) -> None:
    fake.fail("GET", "/time_travel/bookmark$", 400, code=7500, message="Time travel unavailable")
    applied = cli("d1", "migrations", "apply", "DB", "--remote", "--json")
    assert applied.exit_code == 0, applied.output
    stamp = json.loads(applied.stdout)["snapshot"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert "b" in _tables(fake, remote_db)
    # that time is a valid way back (within 30 days, not in the future)
    assert time_travel.parse_timestamp(stamp) == stamp


def test_wrangler_sends_the_same_time_travel_requests(
    fake: FakeCloudflare, cli, remote_db: str, project: Path, wrangler: str, tmp_path: Path
) -> None:
    """The real wrangler against the same fake: worktime's requests are wrangler's."""
    import os
    import subprocess

    env = {
        **os.environ,
        "CLOUDFLARE_API_BASE_URL": fake.url,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "WRANGLER_SEND_METRICS": "false",
        "HOME": str(tmp_path),
    }
    wrangler_calls: list[Recorded] = []
    worktime_calls: list[Recorded] = []

    def shape(records: list[Recorded]) -> list[tuple[str, str, tuple[str, ...], str]]:
        return [
            (r.method, r.path, tuple(sorted(r.query)), r.headers.get("content-type", ""))
            for r in records
            if "/time_travel/" in r.path
        ]

    def by_wrangler(*args: str) -> dict[str, Any]:
        start = len(fake.requests)
        out = subprocess.run(
            [wrangler, "d1", "time-travel", *args, "--json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        wrangler_calls[:] = fake.requests[start:]
        answer: dict[str, Any] = json.loads(out.stdout)
        return answer

    def by_worktime(*args: str) -> dict[str, Any]:
        start = len(fake.requests)
        out = cli("d1", "time-travel", *args, "--json")
        assert out.exit_code == 0, out.output
        worktime_calls[:] = fake.requests[start:]
        answer: dict[str, Any] = json.loads(out.stdout)
        return answer

    mark = by_wrangler("info", "DB")["bookmark"]
    assert by_worktime("info", "DB")["bookmark"]
    assert shape(worktime_calls) == shape(wrangler_calls)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    by_wrangler("info", "DB", "--timestamp", stamp)
    by_worktime("info", "DB", "--timestamp", stamp)
    assert shape(worktime_calls) == shape(wrangler_calls)
    assert worktime_calls[-1].query == wrangler_calls[-1].query  # the same ISO form
    restored = by_wrangler("restore", "DB", "--bookmark", mark)
    ours = by_worktime("restore", "DB", "--bookmark", mark, "--yes")
    assert shape(worktime_calls) == shape(wrangler_calls)
    # worktime's JSON keeps wrangler's keys and values' meaning, and adds to them
    assert set(restored) <= set(ours)
