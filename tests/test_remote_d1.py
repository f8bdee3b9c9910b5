"""Remote D1 against the fake Cloudflare API (SQLite-backed)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.errors import RemoteError, SQLError, WorktimeError
from worktime_cli.project import config, state
from worktime_cli.remote import d1 as remote_d1
from worktime_cli.remote.client import Client

fake = pytest.fixture(name="fake")(fake_fixture)


@pytest.fixture
def client(fake: FakeCloudflare) -> Iterator[Client]:
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as c:
        yield c


def test_create_appends_binding_when_not_configured(fake, client, project: Path) -> None:
    result = remote_d1.create_database(client, config.load(), "worktime-db", location="weur")
    assert fake.calls("POST", "/d1/database$")[0].json() == {
        "name": "worktime-db",
        "primary_location_hint": "weur",
    }
    text = (project / "wrangler.toml").read_text()
    assert text == (
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "worktime-db"\n'
        f'database_id = "{result.database.uuid}"\nmigrations_dir = "migrations"\n'
    )
    assert result.moved_from is None


def test_create_updates_database_id_and_moves_the_local_file(fake, client, project: Path) -> None:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"  # keep me\n\n[[d1_databases]]\nbinding = "DB"\n'
        'database_name = "worktime-db"\ndatabase_id = "local-only-id"\n'
    )
    root = state.root(config.load())
    old = state.d1_path(root, "local-only-id")
    old.parent.mkdir(parents=True)
    old.write_bytes(b"local data")
    old.with_name(old.name + "-wal").write_bytes(b"wal")
    result = remote_d1.create_database(client, config.load(), "worktime-db")
    new = state.d1_path(root, result.database.uuid)
    assert (result.moved_from, result.moved_to) == (old, new)
    assert new.read_bytes() == b"local data"
    assert new.with_name(new.name + "-wal").read_bytes() == b"wal"
    assert not old.exists()
    assert config.load().d1("worktime-db").database_id == result.database.uuid
    assert "# keep me" in (project / "wrangler.toml").read_text()


def test_create_existing_name_is_7502_and_changes_nothing(fake, client, project: Path) -> None:
    fake.add_database("worktime-db")
    before = (project / "wrangler.toml").read_text()
    with pytest.raises(RemoteError, match=r"^7502: A database with that name already exists$"):
        remote_d1.create_database(client, config.load(), "worktime-db")
    assert (project / "wrangler.toml").read_text() == before


def test_unknown_location_is_refused_before_sending(fake, client) -> None:
    with pytest.raises(RemoteError, match="unknown location 'mars'"):
        remote_d1.create_database(client, config.load(), "x", location="mars")
    assert fake.requests == []


def test_list_get_resolve_delete(fake, client) -> None:
    a = fake.add_database("alpha")
    fake.add_database("beta")
    assert [d.name for d in remote_d1.list_databases(client)] == ["alpha", "beta"]
    assert remote_d1.resolve(client, None, "alpha").uuid == a.uuid
    remote_d1.delete_database(client, a.uuid)
    with pytest.raises(WorktimeError, match="no remote database named 'alpha'"):
        remote_d1.resolve(client, None, "alpha")
    with pytest.raises(RemoteError, match=r"^7404: "):
        remote_d1.get_database(client, a.uuid)


def test_query_batch_and_params(fake, client) -> None:
    db = fake.add_database("d")
    results = remote_d1.query(client, db.uuid, "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);")
    assert [r.meta["changes"] for r in results] == [0, 2]
    rows = remote_d1.query(client, db.uuid, "SELECT a FROM t WHERE a > ?", [1])
    assert rows[0].results == [{"a": 2}]
    assert fake.requests[-1].json() == {"sql": "SELECT a FROM t WHERE a > ?", "params": [1]}


def test_params_with_several_statements_refused_locally(fake, client) -> None:
    db = fake.add_database("d")
    with pytest.raises(SQLError, match="single statement"):
        remote_d1.query(client, db.uuid, "SELECT ?; SELECT ?", [1, 2])
    assert fake.calls("POST", "/query$") == []


def test_failing_batch_is_atomic(fake, client) -> None:
    db = fake.add_database("d")
    remote_d1.query(client, db.uuid, "CREATE TABLE t(a UNIQUE)")
    with pytest.raises(RemoteError, match=r"^7500: UNIQUE constraint failed"):
        remote_d1.query(client, db.uuid, "INSERT INTO t VALUES (1); INSERT INTO t VALUES (1);")
    assert fake.sql(db.uuid, "SELECT count(*) FROM t") == [(0,)]


def test_import_flow(fake, client, tmp_path: Path) -> None:
    db = fake.add_database("d")
    dump = tmp_path / "dump.sql"
    dump.write_text("CREATE TABLE t(a);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n")
    etag = hashlib.md5(dump.read_bytes()).hexdigest()
    progressed: list[int] = []
    result = remote_d1.import_file(client, db.uuid, dump, on_progress=progressed.append)
    assert result.num_queries == 3 and result.uploaded
    assert sum(progressed) == dump.stat().st_size
    assert fake.sql(db.uuid, "SELECT a FROM t") == [(1,), (2,)]
    actions = [r.json()["action"] for r in fake.calls("POST", "/import$")]
    assert actions == ["init", "ingest", "poll"]
    assert fake.calls("POST", "/import$")[0].json() == {"action": "init", "etag": etag}
    upload = fake.calls("PUT", "/__upload/")[0]
    assert "authorization" not in upload.headers
    assert upload.body == dump.read_bytes()


def test_import_same_file_again_skips_upload(fake, client, tmp_path: Path) -> None:
    db = fake.add_database("d")
    dump = tmp_path / "dump.sql"
    dump.write_text("CREATE TABLE IF NOT EXISTS t(a);\n")
    remote_d1.import_file(client, db.uuid, dump)
    assert remote_d1.import_file(client, db.uuid, dump).uploaded is False
    assert len(fake.calls("PUT", "/__upload/")) == 1


def test_import_error_is_reported(fake, client, tmp_path: Path) -> None:
    db = fake.add_database("d")
    dump = tmp_path / "bad.sql"
    dump.write_text("CREATE TABLE t(a);\nINSERT INTO nope VALUES (1);\n")
    with pytest.raises(SQLError, match=r"^bad.sql: import failed: no such table: nope"):
        remote_d1.import_file(client, db.uuid, dump)
    assert fake.sql(db.uuid, "SELECT count(*) FROM sqlite_master WHERE name='t'") == [(0,)]


def test_import_etag_mismatch_is_refused(fake, client, tmp_path: Path) -> None:
    db = fake.add_database("d")
    dump = tmp_path / "dump.sql"
    dump.write_text("SELECT 1;\n")
    fake.fail("PUT", "/__upload/", 200, headers={"ETag": '"0000"'}, body=b"")
    with pytest.raises(RemoteError, match="did not arrive intact"):
        remote_d1.import_file(client, db.uuid, dump)
    assert [r.json()["action"] for r in fake.calls("POST", "/import$")] == ["init"]


def test_batch_is_one_request_in_the_shape_d1_accepts(fake, client, project: Path) -> None:
    from worktime_cli.remote.d1 import RemoteD1

    db = fake.add_database("d")
    target = RemoteD1(client, config.load()).database("d")
    fake.requests.clear()
    target.batch([("CREATE TABLE t (a)", []), ("CREATE TABLE u (b) -- no semicolon", [])])
    target.query("INSERT INTO t VALUES (?)", [1])
    assert target.batch([("INSERT INTO t VALUES (?)", [2]), ("SELECT a FROM t", [])]) == [
        [],
        [{"a": 1}, {"a": 2}],
    ]
    bodies = [r.json() for r in fake.calls("POST", "/query$")]
    assert bodies == [
        # Without values: one `sql`, as wrangler sends --command (the 2024 published body).
        {"sql": "CREATE TABLE t (a);\nCREATE TABLE u (b) -- no semicolon\n;"},
        {"sql": "INSERT INTO t VALUES (?)", "params": [1]},
        # Several statements with values: D1's `batch` body; values bound, not interpolated.
        {
            "batch": [
                {"sql": "INSERT INTO t VALUES (?)", "params": [2]},
                {"sql": "SELECT a FROM t", "params": []},
            ]
        },
    ]
    assert fake.sql(db.uuid, "SELECT name FROM sqlite_master ORDER BY name") == [("t",), ("u",)]


def test_statements_d1_refuses_are_refused_before_sending(fake, client) -> None:
    from worktime_cli.remote.d1 import RemoteD1

    fake.add_database("d")
    target = RemoteD1(client, config.load()).database("d")
    fake.requests.clear()
    with pytest.raises(SQLError, match=r"^command:1: D1 does not allow BEGIN"):
        target.execute("BEGIN; SELECT 1")
    with pytest.raises(SQLError, match=r"^batch statement 2:1: D1 does not allow ATTACH"):
        target.batch([("SELECT 1", []), ("ATTACH 'x' AS y", [])])
    assert fake.requests == []


def test_export_polls_then_downloads_without_the_token(fake, client, tmp_path: Path) -> None:
    db = fake.add_database("d")
    remote_d1.query(client, db.uuid, "CREATE TABLE t (a); INSERT INTO t VALUES (1), ('it''s')")
    out = tmp_path / "dump.sql"
    result = remote_d1.export_database(client, db.uuid, out)
    assert (result.path, result.tables, result.rows) == (out, ("t",), 2)
    assert result.size == out.stat().st_size
    assert "INSERT INTO \"t\" VALUES('it''s');" in out.read_text()
    bodies = [r.json() for r in fake.calls("POST", "/export$")]
    options = {"no_data": False, "no_schema": False, "tables": []}
    assert bodies[0] == {"output_format": "polling", "dump_options": options}
    assert (
        bodies[1]["current_bookmark"]
        == fake.calls("POST", "/export$")[0].response["result"]["at_bookmark"]
    )
    download = fake.calls("GET", "/__download/")[0]
    assert "authorization" not in download.headers


def test_export_with_nothing_to_export_sends_nothing(fake, client, tmp_path: Path) -> None:
    db = fake.add_database("d")
    with pytest.raises(WorktimeError, match="leave nothing to export"):
        remote_d1.export_database(client, db.uuid, tmp_path / "x.sql", data=False, schema=False)
    assert fake.calls("POST", "/export$") == []


def test_unknown_name_suggests_the_accounts_names(fake, client) -> None:
    fake.add_database("worktime-db")
    with pytest.raises(WorktimeError) as err:
        remote_d1.resolve(client, None, "worktime_db")
    assert err.value.message == "no remote database named 'worktime_db' in this account"
    assert err.value.hint == "did you mean 'worktime-db'?"


def test_unknown_name_on_an_empty_account_hints_create(fake, client) -> None:
    with pytest.raises(WorktimeError) as err:
        remote_d1.resolve(client, None, "worktime-db")
    assert err.value.hint == "create it with `worktime d1 create worktime-db --remote`"
