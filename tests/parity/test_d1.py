"""One D1 scenario, two targets: the local SQLite file and remote D1 on the fake API.

Each scenario runs against `LocalD1` and `RemoteD1` (and, for the CLI, `d1 … ` and
`d1 … --remote`) and compares what comes back: the same rows, the same result shape, the
same error message and exit code. Where D1 cannot say as much as SQLite (which statement
of a multi-statement batch failed), the test says so and compares what both can say.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture
from worktime_cli.d1 import LocalD1
from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.project import config
from worktime_cli.remote.client import Client
from worktime_cli.remote.d1 import RemoteD1
from worktime_cli.targets.d1 import D1Database, D1Databases

fake = pytest.fixture(name="fake")(fake_fixture)

TARGETS = ["local", "remote"]


@pytest.fixture
def configured(fake: FakeCloudflare, project: Path) -> str:
    """A database configured in wrangler.toml that exists on the fake too (same id)."""
    remote = fake.add_database("worktime-db")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{remote.uuid}"\n'
    )
    return remote.uuid


@pytest.fixture
def client(fake: FakeCloudflare) -> Iterator[Client]:
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as c:
        yield c


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, configured: str, client: Client) -> D1Databases:
    cfg = config.load()
    if request.param == "local":
        return LocalD1(cfg, None)
    return RemoteD1(client, cfg)


@pytest.fixture
def db(target: D1Databases) -> D1Database:
    database = target.database("DB")
    database.execute(
        "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT UNIQUE);"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p(id));"
    )
    return database


def _error(call: Any) -> tuple[type[WorktimeError], str, int]:
    with pytest.raises(WorktimeError) as err:
        call()
    return type(err.value), err.value.message, err.value.exit_code


# --- core: the same results ------------------------------------------------------------------


def test_execute_returns_the_same_rows_and_shape(db: D1Database) -> None:
    results = db.execute("INSERT INTO p (name) VALUES ('a'), ('b'); SELECT id, name FROM p")
    assert [r.rows for r in results] == [[], [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]]
    assert results[0].changes == 2 and results[0].last_row_id == 2
    for result in results:
        data = result.to_json()
        assert set(data) == {"results", "success", "meta"} and data["success"] is True
        assert {"duration", "changes", "last_row_id"} <= set(data["meta"])


def test_query_binds_values(db: D1Database) -> None:
    hostile = "x'); DROP TABLE p; --"
    db.query("INSERT INTO p (name) VALUES (?)", [hostile])
    assert db.query("SELECT name FROM p WHERE name = ?", [hostile]) == [{"name": hostile}]
    assert db.query("SELECT count(*) AS n FROM sqlite_master WHERE name = 'p'") == [{"n": 1}]


def test_batch_returns_each_statements_rows(db: D1Database) -> None:
    rows = db.batch(
        [
            ("INSERT INTO p (id, name) VALUES (?, ?)", [1, "a"]),
            ("INSERT INTO c (id, p) VALUES (?, ?)", [10, 1]),
            ("SELECT c.id, p.name FROM c JOIN p ON p.id = c.p WHERE c.p = ?", [1]),
        ]
    )
    assert rows == [[], [], [{"id": 10, "name": "a"}]]


def test_batch_without_values_returns_each_statements_rows(db: D1Database) -> None:
    rows = db.batch(
        [("INSERT INTO p (name) VALUES ('a') -- no ; here", []), ("SELECT name FROM p", [])]
    )
    assert rows == [[], [{"name": "a"}]]


def test_execute_file_counts_statements(db: D1Database, tmp_path: Path) -> None:
    sql = tmp_path / "seed.sql"
    sql.write_text("INSERT INTO p (name) VALUES ('a');\nINSERT INTO p (name) VALUES ('b');\n")
    result = db.execute_file(sql)
    assert (result.statements, result.changes) == (2, 2)
    assert db.query("SELECT count(*) AS n FROM p") == [{"n": 2}]


def test_list_and_info_have_one_shape(target: D1Databases, configured: str) -> None:
    listed = target.list().to_json()
    assert [d["database_name"] for d in listed] == ["worktime-db"]
    assert listed[0]["binding"] == "DB" and listed[0]["database_id"] == configured
    target.database("DB").execute("CREATE TABLE t (a)")
    info = target.info("worktime-db").to_json()
    assert list(info) == list(listed[0])


def test_export_round_trips(db: D1Database, tmp_path: Path) -> None:
    db.batch(
        [
            ("INSERT INTO p (id, name) VALUES (?, ?)", [1, "it's"]),
            ("INSERT INTO c VALUES (?, ?)", [7, 1]),
        ]
    )
    out = tmp_path / "dump.sql"
    result = db.export(out)
    assert (result.path, sorted(result.tables), result.rows) == (out, ["c", "p"], 2)
    copy = tmp_path / "copy.sqlite"
    from worktime_cli import d1

    d1.execute_file(copy, out, create=True)
    assert d1.query(copy, "SELECT p.name, c.id FROM c JOIN p ON p.id = c.p") == [
        {"name": "it's", "id": 7}
    ]
    schema_only = db.export(tmp_path / "schema.sql", data=False)
    assert schema_only.rows == 0 and sorted(schema_only.tables) == ["c", "p"]


# --- core: the same mistakes, the same errors ------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM nope", "command:1: no such table: nope (in: SELECT * FROM nope)"),
        (
            "INSERT INTO c (p) VALUES (42)",
            "command:1: FOREIGN KEY constraint failed (in: INSERT INTO c (p) VALUES (42))",
        ),
        (
            "INSERT INTO c (p) VALUES (NULL)",
            "command:1: NOT NULL constraint failed: c.p (in: INSERT INTO c (p) VALUES (NULL))",
        ),
        (
            "BEGIN TRANSACTION",
            "command:1: D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT statements; each"
            " command or file already runs in one transaction (in: BEGIN TRANSACTION)",
        ),
        (
            "SELECT 1;\n  SAVEPOINT s",
            "command:2: D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT statements; each"
            " command or file already runs in one transaction (in: SAVEPOINT s)",
        ),
        (
            "ATTACH 'x.db' AS x",
            "command:1: D1 does not allow ATTACH or DETACH (in: ATTACH 'x.db' AS x)",
        ),
        ("-- only a comment", "no SQL statement to run"),
    ],
)
def test_execute_errors_match(db: D1Database, sql: str, message: str) -> None:
    assert _error(lambda: db.execute(sql)) == (SQLError, message, 1)


def test_a_file_breaking_d1s_rules_is_refused_at_its_line(db: D1Database, tmp_path: Path) -> None:
    sql = tmp_path / "bad.sql"
    sql.write_text("INSERT INTO p (name) VALUES ('a');\nSAVEPOINT s;\n")
    assert _error(lambda: db.execute_file(sql)) == (
        SQLError,
        f"{sql}:2: D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT statements; each"
        " command or file already runs in one transaction (in: SAVEPOINT s;)",
        1,
    )
    assert db.query("SELECT count(*) AS n FROM p") == [{"n": 0}]


def test_a_failing_command_keeps_nothing(db: D1Database) -> None:
    sql = "INSERT INTO p (name) VALUES ('a'); INSERT INTO p (name) VALUES ('a')"
    kind, message, code = _error(lambda: db.execute(sql))
    # D1 does not say which statement of a batch failed; SQLite does. Both say what failed.
    assert (kind, code) == (SQLError, 1)
    assert message.startswith("command:") and "UNIQUE constraint failed: p.name" in message
    assert db.query("SELECT count(*) AS n FROM p") == [{"n": 0}]


def test_a_failing_batch_keeps_nothing(db: D1Database) -> None:
    statements: list[tuple[str, list[object]]] = [
        ("INSERT INTO p (id, name) VALUES (?, ?)", [1, "a"]),
        ("INSERT INTO c (id, p) VALUES (?, ?)", [10, 99]),
    ]
    kind, message, code = _error(lambda: db.batch(statements))
    assert (kind, code) == (SQLError, 1)
    assert message.startswith("batch") and "FOREIGN KEY constraint failed" in message
    assert db.query("SELECT count(*) AS n FROM p") == [{"n": 0}]


def test_one_failing_bound_statement_errors_match(db: D1Database) -> None:
    assert _error(lambda: db.query("SELECT * FROM nope WHERE a = ?", [1])) == (
        SQLError,
        "batch statement 1:1: no such table: nope (in: SELECT * FROM nope WHERE a = ?)",
        1,
    )


def test_values_need_exactly_one_statement(db: D1Database) -> None:
    assert _error(lambda: db.query("SELECT ?; SELECT ?", [1, 2])) == (
        SQLError,
        "batch statement 1: expected one SQL statement, got 2",
        1,
    )


# --- the CLI: same output, same stderr, same exit code ---------------------------------------


def _flags(where: str) -> tuple[str, ...]:
    return ("--remote",) if where == "remote" else ("--local",)


def _talk(stderr: str, where: str) -> str:
    """stderr without a remote write's target line (its one difference, said first)."""
    first, _, rest = stderr.partition("\n")
    if where == "remote":
        assert first.startswith("target: D1 database worktime-db (id "), stderr
        return rest
    return stderr


@pytest.mark.parametrize("where", TARGETS)
def test_cli_execute_matches(cli, configured: str, where: str) -> None:
    flags = _flags(where)
    ok = cli("d1", "execute", "DB", *flags, "--command", "CREATE TABLE t (a); SELECT 1 AS one")
    assert ok.exit_code == 0, ok.output
    assert [r["results"] for r in json.loads(ok.stdout)] == [[], [{"one": 1}]]
    bad = cli("d1", "execute", "DB", *flags, "--command", "SELECT * FROM nope")
    assert (bad.exit_code, bad.stderr) == (
        1,
        "error: command:1: no such table: nope (in: SELECT * FROM nope)\n",
    )
    as_json = cli("d1", "execute", "DB", *flags, "--json", "--command", "SELECT * FROM nope")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["text"] == (
        "command:1: no such table: nope (in: SELECT * FROM nope)"
    )


@pytest.mark.parametrize("where", TARGETS)
def test_cli_usage_errors_match(cli, configured: str, fake: FakeCloudflare, where: str) -> None:
    flags = _flags(where)
    neither = cli("d1", "execute", "DB", *flags)
    assert (neither.exit_code, neither.stderr) == (
        2,
        "error: give exactly one of --command or --file\n",
    )
    both = cli("d1", "execute", "DB", "--local", "--remote", "--command", "SELECT 1")
    assert both.exit_code == 2
    assert fake.requests == []


@pytest.mark.parametrize("where", TARGETS)
def test_cli_execute_file_json_matches(cli, configured: str, project: Path, where: str) -> None:
    sql = project / "seed.sql"
    sql.write_text("CREATE TABLE t (a);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n")
    result = cli("d1", "execute", "DB", *_flags(where), "--file", str(sql), "--yes", "--json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)
    assert (item["results"], item["success"], item["meta"]["statements"]) == ([], True, 3)
    missing = cli("d1", "execute", "DB", *_flags(where), "--file", "nope.sql", "--yes")
    assert (missing.exit_code, _talk(missing.stderr, where)) == (
        1,
        "error: file nope.sql not found\n",
    )


@pytest.mark.parametrize("where", TARGETS)
def test_cli_export_matches(cli, configured: str, project: Path, where: str) -> None:
    cli(
        "d1",
        "execute",
        "DB",
        *_flags(where),
        "--command",
        "CREATE TABLE t (a); INSERT INTO t VALUES (1)",
    )
    result = cli("d1", "export", "DB", *_flags(where), "--output", "out.sql", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["path"], data["tables"], data["rows"]) == (str(project / "out.sql"), ["t"], 1)
    nothing = cli("d1", "export", "DB", *_flags(where), "-o", "x.sql", "--no-data", "--no-schema")
    assert (nothing.exit_code, nothing.stderr) == (
        1,
        "error: --no-data and --no-schema together leave nothing to export\n",
    )


@pytest.mark.parametrize("where", TARGETS)
def test_cli_delete_refuses_without_yes(
    cli, configured: str, fake: FakeCloudflare, where: str
) -> None:
    result = cli("d1", "delete", "DB", *_flags(where))
    assert result.exit_code == 1
    assert _talk(result.stderr, where) == (
        f"error: refusing to delete the {where} database DB without confirmation\n"
        "hint: pass --yes to confirm non-interactively\n"
    )
    assert fake.requests == []  # the configured id names the database: no lookup
