"""`worktime d1 migrations … --remote` through the real CLI against the fake Cloudflare API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import TOKEN, FakeCloudflare, fake_fixture

fake = pytest.fixture(name="fake")(fake_fixture)


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
    (folder / "0002_more.sql").write_text("CREATE TABLE b (y);\n")
    (folder / "down" / "0002_more.sql").write_text("DROP TABLE b;\n")
    return db.uuid


def test_list_apply_list_rollback(fake, cli, remote_db: str) -> None:
    before = cli("d1", "migrations", "list", "DB", "--remote", "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout) == {
        "database": "worktime-db",
        "database_id": remote_db,
        "remote": True,
        "migrations": [
            {
                "name": n,
                "status": "pending",
                "applied_at": None,
                "out_of_order": False,
                "has_down": True,
                "down": "file",
            }
            for n in ("0001_init.sql", "0002_more.sql")
        ],
        "counts": {"applied": 0, "pending": 2, "drifted": 0, "missing": 0, "unverified": 0},
    }
    applied = cli("d1", "migrations", "apply", "DB", "--remote", "--json")
    assert applied.exit_code == 0, applied.output
    out = json.loads(applied.stdout)
    assert [(m["name"], m["status"]) for m in out["migrations"]] == [
        ("0001_init.sql", "applied"),
        ("0002_more.sql", "applied"),
    ]
    assert (out["applied"], out["error"]) == (2, None)
    # Issue 12: the Time Travel bookmark taken before the first change is the restore point,
    # and the way back is said on stderr before anything changed.
    bookmark = out["snapshot"]
    assert bookmark
    undo = f"to go back: worktime d1 time-travel restore worktime-db --bookmark {bookmark}"
    assert undo in applied.stderr
    # wrangler's protocol: the file, a newline, then the INSERT, in one /query call
    sent = [r.json()["sql"] for r in fake.calls("POST", "/query$")]
    assert any(
        s.startswith(
            "CREATE TABLE a (x);\n\nINSERT INTO \"d1_migrations\" (name) values ('0001_init.sql');"
        )
        for s in sent
    )
    assert fake.sql(remote_db, "SELECT name FROM d1_migrations ORDER BY id") == [
        ("0001_init.sql",),
        ("0002_more.sql",),
    ]
    table = cli("d1", "migrations", "list", "DB", "--remote")
    assert table.exit_code == 0
    assert table.stderr == "2 applied\n"

    refused = cli("d1", "migrations", "rollback", "DB", "--remote")
    assert refused.exit_code == 1
    assert "refusing to roll back migrations of the remote database worktime-db" in refused.stderr
    rolled = cli("d1", "migrations", "rollback", "DB", "--remote", "--yes", "--json")
    assert rolled.exit_code == 0, rolled.output
    assert [(m["name"], m["status"]) for m in json.loads(rolled.stdout)["migrations"]] == [
        ("0002_more.sql", "rolled back")
    ]
    assert fake.sql(remote_db, "SELECT name FROM d1_migrations") == [("0001_init.sql",)]
    assert fake.sql(remote_db, "SELECT name FROM sqlite_master WHERE name = 'b'") == []
    for result in (before, applied, table, refused, rolled):
        assert TOKEN not in result.output


def test_apply_remote_human_output(fake, cli, remote_db) -> None:
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--to", "0001_init")
    assert result.exit_code == 0, result.output
    assert "0001_init" in result.stdout and "0002_more" not in result.stdout
    assert "\n✓ applied 1 migration(s) to worktime-db in " in result.stderr
    first, second = result.stderr.splitlines()[:2]
    assert first.startswith("target: D1 database worktime-db (id ")  # named before the run
    assert second.startswith("Time Travel bookmark before this run: ")


def test_apply_remote_refuses_out_of_order(fake, cli, remote_db, project: Path) -> None:
    (project / "migrations" / "0002_more.sql").rename(project / "migrations" / "0003_more.sql")
    assert cli("d1", "migrations", "apply", "DB", "--remote", "--to", "0003_more").exit_code == 0
    (project / "migrations" / "0002_late.sql").write_text("CREATE TABLE c (z);\n")
    result = cli("d1", "migrations", "apply", "DB", "--remote")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: pending migration(s) sort before the newest applied one: 0002_late.sql\n"
    )
    ok = cli("d1", "migrations", "apply", "DB", "--remote", "--allow-out-of-order", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["applied"] == 1


def test_apply_remote_failure_reports_what_went_through(
    fake, cli, remote_db, project: Path
) -> None:
    (project / "migrations" / "0002_more.sql").write_text(
        "CREATE TABLE b (y);\nINSERT INTO nope VALUES (1);\n"
    )
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]  # the one JSON error envelope
    path = project / "migrations" / "0002_more.sql"
    assert error["text"].startswith(f"migration 0002_more.sql failed: {path}: 7500: no such table")
    assert error["notes"] == [{"text": "D1 ran this step as one batch, so none of it was applied"}]
    assert fake.sql(remote_db, "SELECT name FROM d1_migrations") == [("0001_init.sql",)]
    human = cli("d1", "migrations", "apply", "DB", "--remote")
    assert human.exit_code == 1
    assert human.stdout == (  # what went through, then the error on stderr
        " name          ┃ status \n━━━━━━━━━━━━━━━╇━━━━━━━━\n 0002_more.sql │ failed \n"
    )
    assert fake.sql(remote_db, "SELECT name FROM sqlite_master WHERE name = 'b'") == []


def test_local_only_options_are_usage_errors(fake, cli, remote_db) -> None:
    for args in (
        ("list", "DB", "--remote", "--persist-to", "x"),
        ("apply", "DB", "--remote", "--persist-to", "x"),
        ("rollback", "DB", "--remote", "--persist-to", "x"),
        ("apply", "DB", "--remote", "--local"),
        ("rollback", "DB", "--remote", "--steps", "1", "--all"),
    ):
        result = cli("d1", "migrations", *args)
        assert result.exit_code == 2, args
    assert fake.requests == []


def test_dry_run_works_remotely_and_sends_no_step(fake, cli, remote_db) -> None:
    """One engine: --dry-run is a plan, so it needs no local file and works with --remote."""
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == "-- 0001_init.sql\nCREATE TABLE a (x);\n-- 0002_more.sql\nCREATE TABLE b (y);\n"
    )
    assert fake.sql(remote_db, "SELECT count(*) FROM d1_migrations") == [(0,)]
    assert fake.sql(remote_db, "SELECT name FROM sqlite_master WHERE name IN ('a', 'b')") == []


def test_a_migration_without_its_final_semicolon_applies_and_rolls_back(
    fake, cli, remote_db: str, project: Path
) -> None:
    """The file's text is glued to the bookkeeping INSERT; it must still parse (review #10)."""
    folder = project / "migrations"
    (folder / "0001_init.sql").write_text("CREATE TABLE a (x)")
    (folder / "down" / "0001_init.sql").write_text("DROP TABLE a")
    applied = cli("d1", "migrations", "apply", "DB", "--remote", "--to", "0001_init", "--json")
    assert applied.exit_code == 0, applied.output
    assert fake.sql(remote_db, "SELECT name FROM d1_migrations") == [("0001_init.sql",)]
    rolled = cli("d1", "migrations", "rollback", "DB", "--remote", "--yes", "--json")
    assert rolled.exit_code == 0, rolled.output
    assert fake.sql(remote_db, "SELECT name FROM d1_migrations") == []
    assert fake.sql(remote_db, "SELECT name FROM sqlite_master WHERE name = 'a'") == []


def test_a_migration_wrangler_applied_is_unverified(fake, cli, remote_db: str) -> None:
    # wrangler records only the name: worktime has no checksum to hold the file to.
    fake.sql(remote_db, "CREATE TABLE a (x)")
    fake.sql(
        remote_db,
        "CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
        "applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    fake.sql(remote_db, "INSERT INTO d1_migrations (name) VALUES ('0001_init.sql')")
    listed = cli("d1", "migrations", "list", "DB", "--remote", "--json")
    assert listed.exit_code == 0, listed.output
    out = json.loads(listed.stdout)
    assert [(m["name"], m["status"]) for m in out["migrations"]] == [
        ("0001_init.sql", "unverified"),
        ("0002_more.sql", "pending"),
    ]
    assert out["counts"]["unverified"] == 1
