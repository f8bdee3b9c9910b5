"""`worktime d1 diff` through the real CLI, local against the fake Cloudflare API."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_cloudflare import TOKEN, FakeCloudflare, fake_fixture

fake = pytest.fixture(name="fake")(fake_fixture)

INIT = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);"


@pytest.fixture
def remote_db(fake: FakeCloudflare, project: Path) -> str:
    db = fake.add_database("worktime-db-prod")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        'database_name = "worktime-db"\ndatabase_id = "local-id"\nmigrations_dir = "migrations"\n'
        '\n[env.production]\n[[env.production.d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db-prod"\ndatabase_id = "{db.uuid}"\n'
        'migrations_dir = "migrations"\n'
    )
    folder = project / "migrations"
    folder.mkdir()
    (folder / "0001_init.sql").write_text(INIT + "\n")
    return db.uuid


def _both_applied(cli, fake: FakeCloudflare, uuid: str) -> None:
    local = cli("d1", "migrations", "apply", "DB", "--env", "production", "--yes")
    assert local.exit_code == 0, local.output
    remote = cli("d1", "migrations", "apply", "DB", "--env", "production", "--remote", "--yes")
    assert remote.exit_code == 0, remote.output


def test_diff_clean(fake, cli, remote_db: str) -> None:
    _both_applied(cli, fake, remote_db)
    result = cli("d1", "diff", "local", "remote", "--env", "production")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "✓ worktime-db-prod: local (production) and remote (production) agree\n"
    assert TOKEN not in result.output


def test_diff_finds_a_column_added_only_in_production(fake, cli, remote_db: str) -> None:
    _both_applied(cli, fake, remote_db)
    fake.sql(remote_db, "ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT 'UTC'")
    result = cli("d1", "diff", "local", "remote", "--env", "production")
    assert result.exit_code == 1, result.output
    assert "users.timezone" in result.stdout
    assert "only in b" in result.stdout
    assert result.stderr.endswith(
        "1 difference(s) between local (production) and remote (production)\n"
    )


def test_diff_json_shape_and_per_side_env(fake, cli, remote_db: str) -> None:
    _both_applied(cli, fake, remote_db)
    fake.sql(remote_db, "ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT 'UTC'")
    result = cli("d1", "diff", "local:production", "remote:production", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {
        "a": "local (production)",
        "b": "remote (production)",
        "drift": True,
        "differences": [
            {
                "kind": "column",
                "object": "users.timezone",
                "detail": "only in b",
                "a": None,
                "b": {
                    "name": "timezone",
                    "type": "TEXT",
                    "not_null": False,
                    "default": "'UTC'",
                    "pk": 0,
                },
            }
        ],
    }


def test_diff_ledger_and_files(fake, cli, remote_db: str, project: Path) -> None:
    _both_applied(cli, fake, remote_db)
    (project / "migrations" / "0002_more.sql").write_text("CREATE TABLE b (y);\n")
    applied = cli("d1", "migrations", "apply", "DB", "--env", "production", "--yes")
    assert applied.exit_code == 0, applied.output
    result = cli("d1", "diff", "local", "remote", "--env", "production", "--json")
    assert result.exit_code == 1
    found = {
        (d["kind"], d["object"], d["detail"]) for d in json.loads(result.stdout)["differences"]
    }
    assert found == {("ledger", "0002_more.sql", "only in a"), ("table", "b", "only in a")}


def test_diff_refuses_an_unknown_side(cli, project: Path) -> None:
    result = cli("d1", "diff", "local", "staging")
    assert result.exit_code == 2
    assert "unknown side 'staging'" in result.stderr


# --- d1 pull -----------------------------------------------------------------------------------

EMAILS = ("ada@example.com", "grace@navy.example")


@pytest.fixture
def pullable(fake: FakeCloudflare, project: Path) -> str:
    db = fake.add_database("worktime-db")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{db.uuid}"\n'
    )
    with closing(sqlite3.connect(db.path)) as conn, conn:
        conn.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, github_username TEXT)"
        )
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT)")
        for i, email in enumerate(EMAILS, 1):
            conn.execute("INSERT INTO users VALUES (?, ?, ?)", (i, email, f"octo{i}"))
            conn.execute("INSERT INTO notes (user_id, body) VALUES (?, 'hello')", (i,))
    return db.uuid


def _local_rows(cli, sql: str) -> list[dict[str, Any]]:
    result = cli("d1", "execute", "DB", "--command", sql, "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)[0]["results"]
    return rows


def test_sanitized_pull_writes_no_original_email(fake, cli, pullable: str, project: Path) -> None:
    # Local data first, so the pull replaces something (and snapshots it).
    assert cli("d1", "execute", "DB", "--command", "CREATE TABLE old (x)").exit_code == 0
    result = cli("d1", "pull", "DB", "--sanitize", "--yes", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["database"] == "worktime-db" and out["snapshot"]
    masked = {(m["table"], m["column"]) for m in out["sanitized"]["masked"]}
    assert ("users", "email") in masked
    users = _local_rows(cli, "SELECT id, email FROM users ORDER BY id")
    assert [u["id"] for u in users] == [1, 2]
    assert all(u["email"] not in EMAILS for u in users)
    assert _local_rows(cli, "SELECT count(*) AS n FROM notes") == [{"n": 2}]
    # Nothing under .wrangler (the file, -wal/-journal, snapshots) holds an original email.
    files = [p for p in (project / ".wrangler").rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for email in EMAILS:
            assert email.encode() not in data, path
    assert fake.calls("POST", "/export$")
    assert TOKEN not in result.output


def test_plain_pull_copies_the_rows(fake, cli, pullable: str) -> None:
    result = cli("d1", "pull", "worktime-db", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith(f"✓ pulled worktime-db into {json_path(cli)}\n")
    users = _local_rows(cli, "SELECT email FROM users ORDER BY id")
    assert [u["email"] for u in users] == list(EMAILS)


def json_path(cli) -> str:
    info = cli("d1", "info", "DB", "--json")
    return str(json.loads(info.stdout)["path"])


def test_pull_refuses_without_yes_when_not_interactive(fake, cli, pullable: str) -> None:
    assert cli("d1", "execute", "DB", "--command", "CREATE TABLE mine (x)").exit_code == 0
    result = cli("d1", "pull", "DB")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing to replace the local database without")
    assert not fake.calls("POST", "/export$")
    assert _local_rows(cli, "SELECT name FROM sqlite_master WHERE name = 'mine'") == [
        {"name": "mine"}
    ]


# --- doctor's remote schema check --------------------------------------------------------------


def _doctor_checks(cli, *args: str) -> dict[str, dict[str, Any]]:
    result = cli("doctor", "--json", *args)
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def test_doctor_compares_local_and_remote_schema(fake, cli, remote_db: str) -> None:
    _both_applied(cli, fake, remote_db)
    checks = _doctor_checks(cli, "--env", "production")
    assert checks["remote schema: DB"]["status"] == "ok"
    fake.sql(remote_db, "ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT 'UTC'")
    checks = _doctor_checks(cli, "--env", "production")
    assert checks["remote schema: DB"] == {
        "name": "remote schema: DB",
        "status": "warn",
        "message": "1 difference(s) between local and remote",
        "hint": "see `worktime d1 diff local remote --env production`",
    }


def test_doctor_skips_the_remote_check_without_credentials(
    fake, cli, remote_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    checks = _doctor_checks(cli, "--env", "production")
    assert checks["remote schema"]["status"] == "skip"
    assert not fake.calls("POST", "/query$")
