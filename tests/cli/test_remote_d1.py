"""`worktime d1 … --remote` through the real CLI against the fake Cloudflare API."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.project import config, state

fake = pytest.fixture(name="fake")(fake_fixture)


def _no_token(*results) -> None:
    for result in results:
        assert TOKEN not in result.output


def test_create_remote_records_uuid_and_prints_json(
    fake: FakeCloudflare, cli, project: Path
) -> None:
    result = cli("d1", "create", "worktime-db", "--remote", "--location", "weur", "--json")
    assert result.exit_code == 0, result.output
    (db,) = fake.databases.values()
    assert json.loads(result.stdout) == {
        "binding": "DB",
        "database_name": "worktime-db",
        "database_id": db.uuid,
        "created_at": "2024-08-01T00:00:00.000Z",
        "config": str(project / "wrangler.toml"),
        "path": None,
        "local_moved_from": None,
        "local_moved_to": None,
        "target": {
            "kind": "d1_database",
            "name": "worktime-db",
            "id": None,
            "env": None,
            "account": ACCOUNT,
        },
    }
    assert fake.calls("POST", "/d1/database$")[0].json() == {
        "name": "worktime-db",
        "primary_location_hint": "weur",
    }
    assert config.load().d1("worktime-db").database_id == db.uuid
    _no_token(result)


def test_create_remote_moves_local_data(fake, cli, project: Path) -> None:
    cli("d1", "create", "worktime-db")
    old = state.d1_path(state.root(config.load()), config.load().d1("DB").local_id)
    cli("d1", "execute", "DB", "--command", "CREATE TABLE t (a)")
    assert old.exists()
    result = cli("d1", "create", "worktime-db", "--remote")
    assert result.exit_code == 0, result.output
    (db,) = fake.databases.values()
    new = state.d1_path(state.root(config.load()), db.uuid)
    assert result.stderr == (
        f"target: D1 database worktime-db (new), top-level config (no --env), account {ACCOUNT}\n"
        f"✓ created worktime-db on Cloudflare (binding DB, uuid {db.uuid})\n"
        f"moved local data {old} -> {new}\n"
    )
    assert new.exists() and not old.exists()


def test_create_remote_existing_name_is_7502(fake, cli, project: Path) -> None:
    fake.add_database("worktime-db")
    before = (project / "wrangler.toml").read_text()
    result = cli("d1", "create", "worktime-db", "--remote")
    assert result.exit_code == 1
    assert result.stderr == (
        f"target: D1 database worktime-db (new), top-level config (no --env), account {ACCOUNT}\n"
        "error: 7502: A database with that name already exists\n"
        "hint: choose another name, or use the existing database (`worktime d1 list --remote`)\n"
    )
    assert (project / "wrangler.toml").read_text() == before


def test_location_without_remote_and_persist_to_with_remote_are_usage_errors(fake, cli) -> None:
    assert cli("d1", "create", "x", "--location", "weur").exit_code == 2
    result = cli("d1", "list", "--remote", "--persist-to", "elsewhere")
    assert result.exit_code == 2
    assert "--persist-to cannot be combined with --remote" in result.stderr
    assert fake.requests == []


def test_list_remote_json_and_table(fake, cli) -> None:
    a = fake.add_database("alpha")
    result = cli("d1", "list", "--remote", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "binding": None,
            "database_name": "alpha",
            "database_id": a.uuid,
            "path": None,
            "exists": None,
            "size": None,
            "created_at": "2024-08-01T00:00:00.000Z",
            "version": "production",
            "num_tables": None,
            "tables": None,
        }
    ]
    table = cli("d1", "list", "--remote")
    assert "alpha" in table.stdout and a.uuid in table.stdout
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    _no_token(result, table)


def test_list_remote_retries_a_429(fake, cli) -> None:
    fake.add_database("alpha")
    fake.fail(
        "GET", "/d1/database$", 429, headers={"Retry-After": "0"}, code=971, message="slow down"
    )
    result = cli("d1", "list", "--remote", "--json")
    assert result.exit_code == 0, result.output
    assert [r.status for r in fake.calls("GET", "/d1/database$")] == [429, 200]
    assert [d["database_name"] for d in json.loads(result.stdout)] == ["alpha"]


def test_info_remote_by_name(fake, cli) -> None:
    db = fake.add_database("alpha")
    result = cli("d1", "info", "alpha", "--remote", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "binding": None,
        "database_name": "alpha",
        "database_id": db.uuid,
        "path": None,
        "exists": None,
        "size": 0,
        "created_at": "2024-08-01T00:00:00.000Z",
        "version": "production",
        "num_tables": 0,
        "tables": None,
        "limits": {
            "size": {"size": 0, "cap": 10_000_000_000, "fraction": 0.0, "level": "ok"},
            "largest_row": None,
            "largest_row_checked": False,
        },
    }
    assert not fake.calls("POST", "/query$")  # the row scan is asked for
    missing = cli("d1", "info", "nope", "--remote")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: no remote database named 'nope' in this account\n")


def test_delete_remote_asks_and_refuses_without_yes(fake, cli) -> None:
    db = fake.add_database("alpha")
    refused = cli("d1", "delete", "alpha", "--remote")
    assert refused.exit_code == 1
    # The database is looked up (a read) to name it before the question; nothing is deleted.
    line = f"target: D1 database alpha (id {db.uuid}), top-level config (no --env), account {ACCOUNT}\n"
    assert refused.stderr.startswith(
        line + "error: refusing to delete the remote database alpha without confirmation\n"
    )
    assert all(r.method == "GET" for r in fake.requests)
    done = cli("d1", "delete", "alpha", "--remote", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stderr == line + f"✓ deleted the remote database alpha ({db.uuid})\n"
    assert len(fake.calls("DELETE", f"/d1/database/{db.uuid}$")) == 1
    assert fake.databases == {}


def test_execute_remote_command_json(fake, cli) -> None:
    db = fake.add_database("alpha")
    result = cli(
        "d1",
        "execute",
        "alpha",
        "--remote",
        "--json",
        "--command",
        "CREATE TABLE t (a); INSERT INTO t VALUES (1); SELECT a FROM t",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["results"] for r in out] == [[], [], [{"a": 1}]]
    assert set(out[2]) == {"results", "success", "meta", "target"}  # a write: its target named
    assert out[0]["target"] == {
        "kind": "d1_database",
        "name": "alpha",
        "id": db.uuid,
        "env": None,
        "account": ACCOUNT,
    }
    assert fake.calls("POST", f"/d1/database/{db.uuid}/query$")[0].json() == {
        "sql": "CREATE TABLE t (a); INSERT INTO t VALUES (1); SELECT a FROM t"
    }
    bad = cli("d1", "execute", "alpha", "--remote", "--command", "SELECT * FROM nope")
    assert bad.exit_code == 1
    # D1's 7500 worded as the local target words it (see tests/parity/test_d1.py).
    assert bad.stderr == "error: command:1: no such table: nope (in: SELECT * FROM nope)\n"


def test_execute_remote_file_imports_after_confirmation(fake, cli, project: Path) -> None:
    db = fake.add_database("alpha")
    dump = project / "dump.sql"
    dump.write_text("CREATE TABLE t (a);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n")
    refused = cli("d1", "execute", "alpha", "--remote", "--file", str(dump))
    assert refused.exit_code == 1
    assert "refusing to import" in refused.stderr
    assert not fake.calls("POST", "/import$")
    result = cli("d1", "execute", "alpha", "--remote", "--file", str(dump), "--yes", "--json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)
    assert item["results"] == [] and item["success"] is True
    assert item["meta"]["statements"] == 3 and item["meta"]["uploaded"] is True
    assert [r.json()["action"] for r in fake.calls("POST", "/import$")] == [
        "init",
        "ingest",
        "poll",
    ]
    upload = fake.calls("PUT", "/__upload/")[0]
    assert "authorization" not in upload.headers
    assert fake.sql(db.uuid, "SELECT a FROM t ORDER BY a") == [(1,), (2,)]
    _no_token(refused, result)


def test_info_remote_largest_row_is_opt_in(fake, cli) -> None:
    db = fake.add_database("alpha")
    with closing(sqlite3.connect(db.path)) as conn, conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('short'), ('a much longer body')")
    plain = cli("d1", "info", "alpha", "--remote")
    assert plain.exit_code == 0, plain.output
    assert "database size" in plain.stdout and "row size" not in plain.stdout
    assert "largest row not checked: --largest-row reads every row" in plain.stderr
    scanned = cli("d1", "info", "alpha", "--remote", "--largest-row", "--json")
    assert scanned.exit_code == 0, scanned.output
    assert "reading every row for the largest one" in scanned.stderr
    assert json.loads(scanned.stdout)["limits"]["largest_row"] == {
        "table": "notes",
        "rowid": 2,
        "size": 19,  # "2" and the 18-byte body
        "limit": 2_000_000,
        "level": "ok",
    }
