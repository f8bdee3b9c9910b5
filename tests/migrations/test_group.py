"""`--group` (issue 15): every migration as one atomic unit, locally and on the fake API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import FakeCloudflare, fake_fixture
from tests.support.migrations import Project

fake = pytest.fixture(name="fake")(fake_fixture)


def _project(project: Path, database_id: str, count: int, failing: int | None) -> Path:
    (project / "wrangler.toml").write_text(
        'name = "w"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{database_id}"\nmigrations_dir = "migrations"\n'
    )
    folder = project / "migrations"
    folder.mkdir()
    for n in range(1, count + 1):
        up = f"CREATE TABLE t{n} (x);\n"
        if n == failing:
            up += "INSERT INTO nope VALUES (1);\n"  # fails on the database, not before
        (folder / f"{n:04d}_t{n}.sql").write_text(up)
    return folder


def test_remote_group_is_one_request_and_all_or_nothing(
    fake: FakeCloudflare, cli, project: Path
) -> None:
    db = fake.add_database("worktime-db")
    folder = _project(project, db.uuid, 20, failing=15)
    failed = cli("d1", "migrations", "apply", "DB", "--remote", "--group", "--json")
    assert failed.exit_code == 1
    envelope = json.loads(failed.stdout)["error"]
    assert "none of its 20 migration(s) changed" in envelope["text"]
    # 0 of 20 applied, no tracking row, no table of the group.
    assert fake.sql(db.uuid, "SELECT count(*) FROM d1_migrations") == [(0,)]
    assert fake.sql(db.uuid, "SELECT count(*) FROM d1_migrations_worktime") == [(0,)]
    tables = fake.sql(db.uuid, "SELECT name FROM sqlite_master WHERE name LIKE 't%'")
    assert tables == []
    # Fix the 15th and apply again: every migration in ONE /query call.
    (folder / "0015_t15.sql").write_text("CREATE TABLE t15 (x);\n")
    fake.requests.clear()
    done = cli("d1", "migrations", "apply", "DB", "--remote", "--group", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["applied"] == 20
    queries = [r for r in fake.requests if r.path.endswith("/query")]
    group = [r for r in queries if b"0020_t20.sql" in (r.body or b"")]
    assert len(group) == 1 and b"0001_t1.sql" in (group[0].body or b"")
    assert fake.sql(db.uuid, "SELECT count(*) FROM d1_migrations") == [(20,)]
    # rollback --steps N --group: one request too.
    fake.requests.clear()
    back = cli("d1", "migrations", "rollback", "DB", "--remote", "--steps", "3", "--group", "--yes")
    assert back.exit_code == 0, back.output
    assert fake.sql(db.uuid, "SELECT count(*) FROM d1_migrations") == [(17,)]
    downs = [
        r for r in fake.requests if r.path.endswith("/query") and b"DELETE FROM" in (r.body or b"")
    ]
    assert len(downs) == 1


def test_remote_group_refuses_what_does_not_fit_one_request(
    fake: FakeCloudflare, cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worktime_cli.remote import migrations as remote_migrations

    monkeypatch.setattr(remote_migrations, "GROUP_MAX_STATEMENTS", 10)
    db = fake.add_database("worktime-db")
    _project(project, db.uuid, 4, failing=None)  # 4 statements + 8 tracking rows = 12
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--group")
    assert result.exit_code == 2
    assert "do not fit in one D1 request: statements (12 > 10)" in result.stderr
    assert fake.sql(db.uuid, "SELECT count(*) FROM d1_migrations") == [(0,)]


def test_local_group_is_all_or_nothing(cli, project: Path) -> None:
    _project(project, "00000000-0000-4000-8000-000000000001", 20, failing=15)
    failed = cli("d1", "migrations", "apply", "DB", "--group")
    assert failed.exit_code == 1
    assert "none of its 20 migration(s) changed" in failed.stderr
    proj = Project(project)
    assert proj.query("SELECT count(*) FROM sqlite_master WHERE name LIKE 't%'") == [(0,)]
    # Even the tracking tables were created inside the one transaction: nothing is left.
    assert proj.query("SELECT count(*) FROM sqlite_master WHERE name LIKE 'd1_migrations%'") == [
        (0,)
    ]
