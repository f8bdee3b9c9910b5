"""The migrations ledger cannot be forged (issue 19, section 8), locally and remotely.

`d1 import` refuses worktime's and wrangler's own tables, and a rollback runs down SQL read
from the database only when it is tied to the migration it undoes; the confirmation shows
the statements a rollback will run and where they come from.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runner
from tests.support.fake_cloudflare import fake_fixture

TOML = (
    'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
    'database_name = "worktime-db"\ndatabase_id = "{uuid}"\nmigrations_dir = "migrations"\n'
)
FORGED = "DELETE FROM users;"
FORGED_ROW = {"name": "0002_notes.sql", "checksum": "x", "down_sql": FORGED, "duration_ms": 1}
LEDGER = "it is the migrations ledger"


@dataclass
class Where:
    """A project whose database is local, or on the stand-in Cloudflare API."""

    name: str
    args: list[str]
    sql: Callable[[str], list[tuple[Any, ...]]]  # read (or write) the database directly


def _local_sql(project: Path) -> Callable[[str], list[tuple[Any, ...]]]:
    def run(query: str) -> list[tuple[Any, ...]]:
        from worktime_cli import d1
        from worktime_cli.project import config

        cfg = config.load(project / "wrangler.toml")
        conn = sqlite3.connect(d1.database_path(cfg, cfg.d1("worktime-db"), None))
        try:
            with conn:
                return conn.execute(query).fetchall()
        finally:
            conn.close()

    return run


@pytest.fixture(params=["local", "remote"])
def where(
    request: pytest.FixtureRequest, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Where]:
    folder = project / "migrations"
    (folder / "down").mkdir(parents=True)
    (folder / "0001_users.sql").write_text(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT);\n"
    )
    (folder / "down" / "0001_users.sql").write_text("DROP TABLE users;\n")
    (folder / "0002_notes.sql").write_text("CREATE TABLE notes (id INTEGER PRIMARY KEY);\n")
    (folder / "down" / "0002_notes.sql").write_text("DROP TABLE notes;\n")
    if request.param == "local":
        (project / "wrangler.toml").write_text(TOML.format(uuid="local-db-id"))
        yield Where("local", [], _local_sql(project))
        return
    for fake in fake_fixture(tmp_path, monkeypatch):
        db = fake.add_database("worktime-db")
        (project / "wrangler.toml").write_text(TOML.format(uuid=db.uuid))

        def run(query: str, path: Path = db.path) -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(path)
            try:
                with conn:
                    return conn.execute(query).fetchall()
            finally:
                conn.close()

        yield Where("remote", ["--remote"], run)


def _applied_with_users(cli: Runner, where: Where) -> None:
    applied = cli("d1", "migrations", "apply", "DB", *where.args, "--yes")
    assert applied.exit_code == 0, applied.output
    where.sql("INSERT INTO users (login) VALUES ('ada'), ('grace')")


@pytest.mark.parametrize(
    ("table", "row", "why"),
    [
        ("d1_migrations", {"name": "0009_never_run.sql"}, LEDGER),
        ("d1_migrations_worktime", FORGED_ROW, LEDGER),
        ("D1_Migrations_Worktime", FORGED_ROW, LEDGER),
        ("sqlite_sequence", {"name": "users", "seq": 99}, "it is internal to SQLite"),
        ("_cf_KV", {"key": "k", "value": "v"}, "it is internal to D1"),
    ],
)
@pytest.mark.parametrize("upsert", [False, True])
def test_import_into_the_ledger_is_refused(
    cli: Runner,
    where: Where,
    project: Path,
    table: str,
    row: dict[str, Any],
    why: str,
    upsert: bool,
) -> None:
    _applied_with_users(cli, where)
    before = where.sql("SELECT * FROM d1_migrations_worktime ORDER BY name")
    (project / "forged.nl").write_text(json.dumps(row) + "\n")
    extra = ["--upsert", "--pk", next(iter(row))] if upsert else []
    result = cli("d1", "import", "DB", table, "forged.nl", *extra, *where.args)
    assert result.exit_code == 1, result.output
    assert f"error: cannot import into {table!r}: {why}" in result.stderr
    assert where.sql("SELECT * FROM d1_migrations_worktime ORDER BY name") == before
    assert where.sql("SELECT name FROM d1_migrations ORDER BY id") == [
        ("0001_users.sql",),
        ("0002_notes.sql",),
    ]
    assert where.sql("SELECT count(*) FROM users") == [(2,)]


def test_a_forged_down_is_refused_and_nothing_runs(
    cli: Runner, where: Where, project: Path
) -> None:
    """The down file is gone (another branch): the copy in the database would be used.
    Written there behind worktime's back (raw SQL stays allowed), it is refused."""
    _applied_with_users(cli, where)
    (project / "migrations" / "down" / "0002_notes.sql").unlink()
    (project / "migrations" / "down" / "0001_users.sql").unlink()
    forge = cli(
        "d1", "execute", "DB", *where.args, "--yes", "--command",
        f"UPDATE d1_migrations_worktime SET down_sql = '{FORGED}' WHERE name = '0002_notes.sql'",
    )  # fmt: skip
    assert forge.exit_code == 0, forge.output
    result = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes")
    assert result.exit_code == 1, result.output
    assert (
        "error: cannot roll back 0002_notes.sql: the down SQL recorded for it in "
        "d1_migrations_worktime does not match the checksum stored with it (changed outside "
        "worktime after it was applied); nothing changed\n"
    ) in result.stderr
    down = project / "migrations" / "down" / "0002_notes.sql"
    assert f"hint: write the SQL that undoes it in {down} (or restore that file), then retry" in (
        result.stderr
    )
    assert where.sql("SELECT count(*) FROM users") == [(2,)]
    assert where.sql("SELECT name FROM d1_migrations ORDER BY id") == [
        ("0001_users.sql",),
        ("0002_notes.sql",),
    ]
    if where.name == "local":  # `migrations down` reads the local ledger only
        # Writing the forged copy out as the down file is refused too.
        written = cli("d1", "migrations", "down", "DB", "0002_notes", "--write")
        assert written.exit_code == 1 and not down.exists()
    # Forging the checksum column too does not help: the seal covers it.
    cli(
        "d1", "execute", "DB", *where.args, "--yes", "--command",
        "UPDATE d1_migrations_worktime SET checksum = 'x' WHERE name = '0002_notes.sql'",
    )  # fmt: skip
    again = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes")
    assert again.exit_code == 1 and "does not match the checksum" in again.stderr
    # Nor does removing the seal: an unsealed copy must be what the up file derives.
    cli(
        "d1", "execute", "DB", *where.args, "--yes", "--command",
        "UPDATE d1_migrations_worktime SET down_checksum = NULL WHERE name = '0002_notes.sql'",
    )  # fmt: skip
    unsealed = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes")
    assert unsealed.exit_code == 1 and "has no checksum" in unsealed.stderr
    assert where.sql("SELECT count(*) FROM users") == [(2,)]


def test_the_sealed_copy_still_rolls_back(cli: Runner, where: Where, project: Path) -> None:
    _applied_with_users(cli, where)
    (project / "migrations" / "down" / "0002_notes.sql").unlink()
    result = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert [(m["name"], m["source"]) for m in json.loads(result.stdout)["migrations"]] == [
        ("0002_notes.sql", "captured")
    ]
    assert where.sql("SELECT name FROM sqlite_master WHERE name = 'notes'") == []


def _as_an_older_worktime_left_it(where: Where) -> None:
    """The facts table as worktime wrote it before the seal: no down_checksum column."""
    where.sql("ALTER TABLE d1_migrations_worktime DROP COLUMN down_checksum")


def test_an_unsealed_copy_from_an_older_worktime_is_refused_until_reviewed(
    cli: Runner, where: Where, project: Path
) -> None:
    """A ledger written before the seal: its captured copy (here a down file's text, which the
    up file cannot re-derive) runs only once written out as the down file and reviewed."""
    (project / "migrations" / "down" / "0002_notes.sql").write_text(
        "-- keep the notes elsewhere first\nDROP TABLE notes;\n"
    )
    _applied_with_users(cli, where)
    _as_an_older_worktime_left_it(where)
    down = project / "migrations" / "down" / "0002_notes.sql"
    down.unlink()
    listed = cli("d1", "migrations", "list", "DB", *where.args, "--json")
    assert listed.exit_code == 0, listed.output
    result = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes")
    assert result.exit_code == 1, result.output
    assert (
        "error: cannot roll back 0002_notes.sql: the down SQL recorded for it in "
        "d1_migrations_worktime has no checksum (recorded by an older worktime, or written "
        "outside worktime), so it cannot be tied to the migration; nothing changed\n"
    ) in result.stderr
    if where.name == "local":
        assert "`worktime d1 migrations down worktime-db 0002_notes.sql --write`" in result.stderr
        written = cli("d1", "migrations", "down", "DB", "0002_notes", "--write")
        assert written.exit_code == 0, written.output
    else:
        show = (
            '`worktime d1 execute worktime-db --remote --command "SELECT down_sql FROM '
            "d1_migrations_worktime WHERE name = '0002_notes.sql'\"` shows the recorded copy"
        )
        assert show in result.stderr
        shown = cli(
            "d1", "execute", "DB", "--remote", "--json", "--command",
            "SELECT down_sql FROM d1_migrations_worktime WHERE name = '0002_notes.sql'",
        )  # fmt: skip
        assert shown.exit_code == 0, shown.output
        assert "DROP TABLE notes;" in shown.stdout
        down.write_text("-- keep the notes elsewhere first\nDROP TABLE notes;\n")
    assert "DROP TABLE notes;" in down.read_text()
    done = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["migrations"][0]["source"] == "file"


def test_an_unsealed_copy_the_up_file_derives_still_rolls_back(
    cli: Runner, where: Where, project: Path
) -> None:
    """An older ledger's captured copy equal to what the unchanged up file derives is proven
    by the file itself: the rollback goes ahead."""
    (project / "migrations" / "down" / "0002_notes.sql").unlink()
    _applied_with_users(cli, where)  # captures the inverse derived from 0002_notes.sql
    _as_an_older_worktime_left_it(where)
    result = cli("d1", "migrations", "rollback", "DB", *where.args, "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert where.sql("SELECT name FROM sqlite_master WHERE name = 'notes'") == []


def test_an_older_ledger_gets_the_seal_column_on_the_next_apply(
    cli: Runner, where: Where, project: Path
) -> None:
    _applied_with_users(cli, where)
    _as_an_older_worktime_left_it(where)
    (project / "migrations" / "0003_tags.sql").write_text("CREATE TABLE tags (t);\n")
    applied = cli("d1", "migrations", "apply", "DB", *where.args, "--yes")
    assert applied.exit_code == 0, applied.output
    sealed = where.sql(
        "SELECT name FROM d1_migrations_worktime WHERE down_checksum IS NOT NULL ORDER BY name"
    )
    assert sealed == [("0003_tags.sql",)]


def test_the_confirmation_shows_what_will_run_and_from_where(
    cli: Runner, where: Where, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worktime_cli.cli import output

    _applied_with_users(cli, where)
    (project / "migrations" / "down" / "0002_notes.sql").unlink()
    monkeypatch.setattr(output, "is_terminal", lambda _stream: True)
    result = cli("d1", "migrations", "rollback", "DB", *where.args, "--steps", "2", input="n\n")
    assert result.exit_code == 1, result.output
    down = project / "migrations" / "down" / "0001_users.sql"
    assert (
        "-- 0002_notes.sql: down SQL captured at apply time (verified)\n"
        "DROP TABLE notes;\n"
        f"-- 0001_users.sql: down SQL from {down}\n"
        "DROP TABLE users;\n"
    ) in result.stderr
    assert "error: cancelled, nothing changed" in result.stderr
    assert where.sql("SELECT count(*) FROM users") == [(2,)]


def test_the_confirmation_shows_control_characters_escaped(
    cli: Runner, where: Where, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A down file cannot hide a statement from the reader with terminal escapes."""
    from worktime_cli.cli import output

    _applied_with_users(cli, where)
    (project / "migrations" / "down" / "0002_notes.sql").write_text(
        "DROP TABLE notes;\nUPDATE users SET login = '\x1b[8m';\n"
    )
    monkeypatch.setattr(output, "is_terminal", lambda _stream: True)
    result = cli("d1", "migrations", "rollback", "DB", *where.args, input="n\n")
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.stderr
    assert "UPDATE users SET login = '\\x1b[8m';" in result.stderr


def test_a_custom_ledger_name_is_refused_too(cli: Runner, project: Path) -> None:
    """The ledger is wherever the config's migrations_table puts it."""
    (project / "wrangler.toml").write_text(
        TOML.format(uuid="local-db-id") + 'migrations_table = "schema_history"\n'
    )
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_users.sql").write_text("CREATE TABLE users (id);\n")
    assert cli("d1", "migrations", "apply", "DB").exit_code == 0
    (project / "forged.nl").write_text(json.dumps(FORGED_ROW) + "\n")
    for table in ("schema_history", "schema_history_worktime"):
        result = cli("d1", "import", "DB", table, "forged.nl", "--upsert", "--pk", "name")
        assert result.exit_code == 1, result.output
        assert f"error: cannot import into {table!r}: it is the migrations ledger" in (
            result.stderr
        )
    rows = _local_sql(project)("SELECT name, down_sql FROM schema_history_worktime")
    assert rows[0][1] != FORGED
