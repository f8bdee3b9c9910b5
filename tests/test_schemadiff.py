"""The live schema as a normalised model and its diff (worktime_cli.d1.schemadiff), local and remote."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from tests.support.migrations import SEED
from worktime_cli.d1 import schemadiff
from worktime_cli.d1.schemadiff import Difference
from worktime_cli.remote import d1 as remote_d1
from worktime_cli.remote.client import Client

fake = pytest.fixture(name="fake")(fake_fixture)


@pytest.fixture
def client(fake: FakeCloudflare) -> Iterator[Client]:
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as c:
        yield c


def _schema(path: Path, sql: str) -> schemadiff.Schema:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(sql)
        return schemadiff.read_schema(schemadiff.connection_query(conn))
    finally:
        conn.close()


LEDGER = (
    "CREATE TABLE d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
    "applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);"
    "INSERT INTO d1_migrations (name) VALUES ('0001_initial_schema.sql');"
)


def test_the_same_schema_written_differently_has_no_difference(tmp_path: Path) -> None:
    plain = (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL DEFAULT 'X', "
        "status text default 'active', UNIQUE(email));\n"
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id) "
        "ON DELETE CASCADE, body TEXT);\n"
        "CREATE INDEX notes_user ON notes(user_id) WHERE body IS NOT NULL;\n"
        "CREATE TRIGGER touch AFTER UPDATE ON users BEGIN UPDATE notes SET body = 'x' "
        "WHERE user_id = new.id; END;\n"
        "CREATE VIEW v AS SELECT id FROM users;\n"
    )
    styled = (
        'create table "Users" (\n  "ID" integer primary key,\n  [email]   text  not null default \'X\','
        "\n  `STATUS` TEXT DEFAULT 'active',\n  unique ( email )\n) ;\n"
        '-- a comment\ncreate table [notes] ("id" integer primary key, body text, '
        'user_id integer references "users" ( "id" ) on delete cascade);\n'
        'CREATE   INDEX "notes_user" ON "notes" ( "user_id" )  where "body" is not null;\n'
        'create trigger "touch" after update on "users"\nbegin\n  update "notes" set body = \'x\' '
        "where user_id = NEW.id;\nend;\n"
        'create view "V" as select "id" from [users];\n'
    )
    a = _schema(tmp_path / "a.sqlite", plain)
    b = _schema(tmp_path / "b.sqlite", styled)
    assert schemadiff.diff(a, b) == ()
    assert not schemadiff.compare(a, b).drift
    assert set(a.indexes) == {"notes_user", "users:unique(email)"}


def test_a_column_added_only_in_production_is_found(tmp_path: Path, fake, client) -> None:
    seed = SEED.read_text()
    local = _schema(tmp_path / "local.sqlite", seed + LEDGER)
    uuid = fake.add_database("worktime-db").uuid
    for statement in [seed, LEDGER, "ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT 'UTC'"]:
        remote_d1.query(client, uuid, statement)
    remote = schemadiff.read_schema(lambda sql: remote_d1.query(client, uuid, sql)[0].results)
    result = schemadiff.compare(local, remote, a_label="local", b_label="remote")
    assert result.drift
    assert result.differences == (
        Difference(
            "column",
            "users.timezone",
            "only in b",
            None,
            {"name": "timezone", "type": "TEXT", "not_null": False, "default": "'UTC'", "pk": 0},
        ),
    )
    data = json.loads(json.dumps(result.to_json()))
    assert data["a"] == "local" and data["drift"] is True
    assert data["differences"][0]["object"] == "users.timezone"
    assert remote.applied == ("0001_initial_schema.sql",)
    # Same seed on both: the ledger and the rest of the schema agree.
    assert json.dumps(remote.to_json()["tables"]["time_sessions"]["foreign_keys"]) == json.dumps(
        local.to_json()["tables"]["time_sessions"]["foreign_keys"]
    )


def test_every_kind_of_difference(tmp_path: Path) -> None:
    a = _schema(
        tmp_path / "a.sqlite",
        "CREATE TABLE p (id INTEGER PRIMARY KEY);"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER NOT NULL REFERENCES p(id) ON DELETE CASCADE, v TEXT);"
        "CREATE INDEX c_v ON c(v) WHERE v IS NOT NULL;"
        "CREATE TRIGGER t AFTER INSERT ON c BEGIN SELECT 1; END;"
        "CREATE TABLE gone (x);",
    )
    b = _schema(
        tmp_path / "b.sqlite",
        "CREATE TABLE p (id INTEGER PRIMARY KEY);"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id) ON DELETE SET NULL, v INTEGER);"
        "CREATE INDEX c_v ON c(v) WHERE v > 0;"
        "CREATE TRIGGER t AFTER INSERT ON c BEGIN SELECT 2; END;"
        "CREATE VIEW w AS SELECT 1;",
    )
    found = {(d.kind, d.object, d.detail) for d in schemadiff.diff(a, b)}
    assert found == {
        ("column", "c.p_id", "not null differs"),
        ("column", "c.v", "type differs"),
        ("foreign-key", "c(p_id)", "only in a"),
        ("foreign-key", "c(p_id)", "only in b"),
        ("index", "c_v", "differs"),
        ("table", "gone", "only in a"),
        ("trigger", "t", "sql differs"),
        ("view", "w", "only in b"),
    }
    fk = next(d for d in schemadiff.diff(a, b) if d.kind == "foreign-key" and d.a)
    assert "ON DELETE CASCADE" in fk.a


def test_ledger_and_files_compared_by_name() -> None:
    empty = schemadiff.Schema({}, {}, {}, {})
    a = schemadiff.Schema({}, {}, {}, {}, applied=("0001.sql", "0002.sql", "0003.sql"))
    b = schemadiff.Schema({}, {}, {}, {}, applied=("0001.sql", "0003.sql", "0002.sql"))
    result = schemadiff.compare(a, b, a_files=["0001.sql", "0002.sql"], b_files=["0001.sql"])
    assert [(d.kind, d.object, d.detail) for d in result.differences] == [
        ("ledger", "order", "applied in another order"),
        ("migration-file", "0002.sql", "only in a"),
    ]
    assert [d.object for d in schemadiff.compare(a, empty).differences] == [
        "0001.sql",
        "0002.sql",
        "0003.sql",
    ]


def test_normalise_sql_keeps_string_case_and_drops_formatting() -> None:
    n = schemadiff.normalise_sql
    assert n("SELECT  'A'  -- c\n FROM \"T\";") == n("select 'A' from t")
    assert n("select 'A'") != n("select 'a'")
    assert n('select "odd name"') == 'select "odd name"'
    assert schemadiff.normalise_type(" varchar( 10 ) ") == "VARCHAR(10)"
