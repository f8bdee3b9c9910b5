"""`migrations apply --remote --rehearse / --rehearse-only` against the fake Cloudflare API."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import TOKEN, FakeCloudflare, fake_fixture

fake = pytest.fixture(name="fake")(fake_fixture)

INIT = """CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  body TEXT
);
"""
# Rebuilds the parent and forgets its children: on D1 the DROP cascades to notes.
REBUILD = """PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL, tz TEXT);
INSERT INTO users_new (id, email) SELECT id, email FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
"""


@pytest.fixture
def remote_db(fake: FakeCloudflare, project: Path, cli) -> str:
    db = fake.add_database("worktime-db")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{db.uuid}"\nmigrations_dir = "migrations"\n'
    )
    folder = project / "migrations"
    folder.mkdir()
    (folder / "0001_init.sql").write_text(INIT)
    applied = cli("d1", "migrations", "apply", "DB", "--remote", "--yes")
    assert applied.exit_code == 0, applied.output
    with closing(sqlite3.connect(db.path)) as conn, conn:
        conn.execute("INSERT INTO users (id, email) VALUES (1, 'ada@example.com')")
        conn.execute("INSERT INTO notes (user_id, body) VALUES (1, 'a'), (1, 'b')")
    return db.uuid


def _ledger(fake: FakeCloudflare, uuid: str) -> list[str]:
    return [n for (n,) in fake.sql(uuid, "SELECT name FROM d1_migrations ORDER BY id")]


def test_rehearsal_catches_a_cascade_deletion_and_applies_nothing(
    fake, cli, remote_db: str, project: Path
) -> None:
    (project / "migrations" / "0002_rebuild.sql").write_text(REBUILD)
    queries = len(fake.calls("POST", "/query$"))
    result = cli(
        "d1",
        "migrations",
        "apply",
        "DB",
        "--remote",
        "--rehearse",
        "--allow",
        "cascade-drop",
        "--yes",
    )
    assert result.exit_code == 1, result.output
    assert "0002_rebuild.sql" in result.stdout and "cascade-delete" in result.stdout
    assert "notes 2→0" in result.stdout
    assert "nothing was applied to the remote database" in result.stderr
    assert _ledger(fake, remote_db) == ["0001_init.sql"]
    assert fake.sql(remote_db, "SELECT count(*) FROM notes") == [(2,)]
    # Nothing but the export reached the database: no /query call at all.
    assert len(fake.calls("POST", "/query$")) == queries
    assert fake.calls("POST", "/export$")
    assert TOKEN not in result.output


def test_rehearse_only_json_carries_the_rehearsal(fake, cli, remote_db: str, project: Path) -> None:
    (project / "migrations" / "0002_rebuild.sql").write_text(REBUILD)
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--rehearse-only", "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["applied"] == 0 and out["rehearsal"]["clean"] is False
    kinds = {f["kind"] for f in out["rehearsal"]["findings"]}
    assert {"cascade-delete", "lint"} <= kinds
    assert _ledger(fake, remote_db) == ["0001_init.sql"]


def test_a_clean_rehearsal_proceeds_and_applies(fake, cli, remote_db: str, project: Path) -> None:
    (project / "migrations" / "0002_tz.sql").write_text("ALTER TABLE users ADD COLUMN tz TEXT;\n")
    only = cli("d1", "migrations", "apply", "DB", "--remote", "--rehearse-only")
    assert only.exit_code == 0, only.output
    assert _ledger(fake, remote_db) == ["0001_init.sql"]
    result = cli("d1", "migrations", "apply", "DB", "--remote", "--rehearse", "--yes", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["rehearsal"]["clean"] is True
    assert [m["name"] for m in out["rehearsal"]["migrations"]] == ["0002_tz.sql"]
    assert [(m["name"], m["status"]) for m in out["migrations"]] == [("0002_tz.sql", "applied")]
    assert out["snapshot"]
    assert f"--bookmark {out['snapshot']}" in result.stderr
    assert _ledger(fake, remote_db) == ["0001_init.sql", "0002_tz.sql"]


def test_rehearse_needs_remote(cli, project: Path) -> None:
    (project / "wrangler.toml").write_text(
        'name = "w"\n\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "db"\ndatabase_id = "x"\n'
    )
    result = cli("d1", "migrations", "apply", "DB", "--rehearse")
    assert result.exit_code == 2
    assert "--rehearse and --rehearse-only need --remote" in result.stderr


def test_apply_warns_about_a_rewrite_of_a_big_table(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worktime_cli.d1 import limits as d1limits

    (project / "wrangler.toml").write_text(
        'name = "w"\n\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "db"\n'
        'database_id = "x"\nmigrations_dir = "migrations"\n'
    )
    folder = project / "migrations"
    folder.mkdir()
    (folder / "0001_init.sql").write_text(INIT)
    assert cli("d1", "migrations", "apply", "DB", "--yes").exit_code == 0
    rows = ", ".join(f"({i}, 'u{i}@example.com')" for i in range(1, 101))
    assert (
        cli("d1", "execute", "DB", "--command", f"INSERT INTO users VALUES {rows}").exit_code == 0
    )
    (folder / "0002_all.sql").write_text("UPDATE users SET email = lower(email);\n")
    # 100 rows at 1 row/s: 100 s, over D1's 30 s per query.
    monkeypatch.setattr(d1limits, "REWRITE_ROWS_PER_SECOND", 1)
    result = cli("d1", "migrations", "apply", "DB", "--yes")
    assert result.exit_code == 0, result.output
    assert "0002_all.sql" in result.stderr and "users" in result.stderr
    assert "advice: " in result.stderr
