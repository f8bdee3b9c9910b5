from __future__ import annotations

import json
from pathlib import Path

import pytest

from worktime_cli.project import config, state

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(cli):
    result = cli("d1", "create", "worktime-db")
    assert result.exit_code == 0, result.output
    return config.load().d1("worktime-db")


def test_create_adds_the_entry_and_the_file(cli, project):
    result = cli("d1", "create", "worktime-db")
    assert result.exit_code == 0
    assert result.stdout == ""
    db = config.load().d1("worktime-db")
    path = state.d1_path(project / ".wrangler" / "state", db.local_id)
    assert result.stderr == (
        f"✓ created worktime-db (binding DB, id {db.database_id})\nlocal file: {path}\n"
    )
    assert path.is_file()


def test_create_twice_is_an_error(cli, db):
    result = cli("d1", "create", "worktime-db")
    assert result.exit_code == 1
    assert result.stderr == "error: database 'worktime-db' already exists in wrangler.toml\n"


def test_list_json_shape(cli, db, project):
    result = cli("d1", "list", "--json")
    assert result.exit_code == 0
    path = state.d1_path(project / ".wrangler" / "state", db.local_id)
    assert json.loads(result.stdout) == [
        {
            "binding": "DB",
            "database_name": "worktime-db",
            "database_id": db.database_id,
            "path": str(path),
            "exists": True,
            "size": path.stat().st_size,
            "created_at": None,
            "version": None,
            "num_tables": None,
            "tables": None,
        }
    ]


def test_info_by_binding_hides_internal_tables(cli, db):
    cli("d1", "execute", "DB", "--file", str(REPO / "migrations" / "0001_initial_schema.sql"))
    cli(
        "d1",
        "execute",
        "DB",
        "--command",
        "INSERT INTO users (github_user_id, github_username) VALUES ('1', 'o')",
    )
    result = cli("d1", "info", "DB", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == [
        "binding",
        "database_name",
        "database_id",
        "path",
        "exists",
        "size",
        "created_at",
        "version",
        "num_tables",
        "tables",
        "limits",
    ]
    assert data["limits"]["largest_row_checked"] is True
    assert data["limits"]["size"]["cap"] == 10_000_000_000
    assert data["limits"]["largest_row"]["table"] == "users"
    assert data["limits"]["largest_row"]["limit"] == 2_000_000
    assert data["num_tables"] == 3
    assert data["tables"] == [
        {"name": "daily_stats", "rows": 0},
        {"name": "time_sessions", "rows": 0},
        {"name": "users", "rows": 1},
    ]


def test_execute_command_prints_wranglers_json_when_piped(cli, db):
    result = cli(
        "d1",
        "execute",
        "worktime-db",
        "--command",
        "SELECT 1 AS one, '[b]' AS two; SELECT NULL AS n",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["results"] for d in data] == [[{"one": 1, "two": "[b]"}], [{"n": None}]]
    assert all(d["success"] is True for d in data)
    assert result.stderr == ""


def test_execute_needs_exactly_one_source(cli, db):
    assert cli("d1", "execute", "DB").exit_code == 2
    result = cli("d1", "execute", "DB", "--command", "SELECT 1", "--file", "x.sql")
    assert result.exit_code == 2
    assert "give exactly one of --command or --file" in result.stderr


def test_execute_file_failure_is_one_line_and_keeps_nothing(cli, db, project):
    sql = project / "bad.sql"
    sql.write_text("CREATE TABLE t (a);\nINSERT INTO t VALUES (1);\nINSERT INTO nope VALUES (2);\n")
    result = cli("d1", "execute", "DB", "--file", str(sql))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        result.stderr == f"error: {sql}:3: no such table: nope (in: INSERT INTO nope VALUES (2);)\n"
    )
    check = cli(
        "d1", "execute", "DB", "--command", "SELECT name FROM sqlite_master WHERE name = 't'"
    )
    assert json.loads(check.stdout)[0]["results"] == []


def test_execute_file_json_summary(cli, db, project):
    sql = project / "ok.sql"
    sql.write_text("CREATE TABLE t (a);\nINSERT INTO t VALUES (1), (2);\n")
    result = cli("d1", "execute", "DB", "--file", str(sql), "--json")
    assert result.exit_code == 0
    (data,) = json.loads(result.stdout)
    assert data["results"] == []
    assert set(data["meta"]) == {"duration", "changes", "last_row_id", "statements"}
    assert data["meta"]["changes"] == 2
    assert data["meta"]["statements"] == 2  # the README promises it


def test_database_file_is_refused(cli, db, project):
    path = state.d1_path(project / ".wrangler" / "state", db.local_id)
    result = cli("d1", "execute", "DB", "--file", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path} is a database file, not SQL\nhint: ")


def test_unknown_database_lists_configured(cli, db):
    result = cli("d1", "info", "nope")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: database 'nope' is not configured in wrangler.toml (configured: worktime-db)\n"
        "hint: use one of: worktime-db\n"
    )


def test_missing_config(cli, project):
    (project / "wrangler.toml").unlink()
    result = cli("d1", "list")
    assert result.exit_code == 1
    assert result.stderr.endswith("hint: run `worktime init` or pass --config\n")


def test_config_and_persist_to_options(cli, project, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "custom.toml").write_text('name = "x"\n')
    state_dir = tmp_path / "state"
    result = cli(
        "d1", "create", "a", "-c", str(other / "custom.toml"), "--persist-to", str(state_dir)
    )
    assert result.exit_code == 0, result.output
    db = config.load(other / "custom.toml").d1("a")
    assert state.d1_path(state_dir, db.local_id).is_file()
    assert not (other / ".wrangler").exists()


def test_export_then_reimport(cli, db, project):
    cli("d1", "execute", "DB", "--file", str(REPO / "migrations" / "0001_initial_schema.sql"))
    cli(
        "d1",
        "execute",
        "DB",
        "--command",
        "INSERT INTO users (github_user_id, github_username) VALUES ('1', 'o')",
    )
    result = cli("d1", "export", "DB", "--output", "backup.sql")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("✓ exported 3 table(s), 1 row(s) to ")
    assert cli("d1", "create", "copy").exit_code == 0
    assert cli("d1", "execute", "copy", "--file", "backup.sql").exit_code == 0
    rows = cli("d1", "execute", "copy", "--command", "SELECT github_username FROM users")
    assert json.loads(rows.stdout)[0]["results"] == [{"github_username": "o"}]


def test_delete_refuses_without_yes_when_not_interactive(cli, db, project):
    path = state.d1_path(project / ".wrangler" / "state", db.local_id)
    result = cli("d1", "delete", "DB")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: refusing to delete the local database DB without confirmation\n"
        "hint: pass --yes to confirm non-interactively\n"
    )
    assert path.exists()
    result = cli("d1", "delete", "DB", "--yes")
    assert result.exit_code == 0
    assert not path.exists()
    assert config.load().d1_databases == ()


def test_unexpected_errors_are_one_line_unless_debug(cli, db, monkeypatch):
    from worktime_cli.d1 import local

    def boom(*_args, **_kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(local, "describe", boom)
    result = cli("d1", "list", expect_bug=True)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: unexpected RuntimeError (a bug in worktime)\nhint: re-run with --debug for the traceback\n"
    )
    result = cli("--debug", "d1", "list", expect_bug=True)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: internal detail" in result.stderr


def test_usage_errors_exit_2(cli):
    result = cli("d1", "nope")
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.stderr


@pytest.mark.parametrize("name", ["../../../esc", "a/b", ".hidden", ""])
def test_create_refuses_names_that_are_paths(cli, project, name):
    result = cli("d1", "create", name)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {name!r} is not a valid database name\n")
    assert "d1_databases" not in (project / "wrangler.toml").read_text()


def _configured_without_file(project: Path) -> Path:
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        'database_name = "worktime-db"\ndatabase_id = "00000000-0000-0000-0000-000000000001"\n'
    )
    path = state.d1_path(state.root(config.load()), config.load().d1("DB").local_id)
    assert not path.exists()
    return path


def test_execute_creates_a_configured_databases_missing_file(cli, project):
    """As wrangler does (issue 12 part 5); before: 'does not exist … d1 create', which then failed."""
    path = _configured_without_file(project)
    result = cli("d1", "execute", "DB", "--command", "CREATE TABLE t (a); SELECT 1 AS one")
    assert result.exit_code == 0, result.output
    assert path.is_file()
    assert json.loads(result.stdout)[1]["results"] == [{"one": 1}]


def test_execute_file_creates_a_configured_databases_missing_file(cli, project):
    path = _configured_without_file(project)
    sql = project / "seed.sql"
    sql.write_text("CREATE TABLE t (a);\nINSERT INTO t VALUES (1);\n")
    result = cli("d1", "execute", "worktime-db", "--file", str(sql), "--json")
    assert result.exit_code == 0, result.output
    assert path.is_file()
    (data,) = json.loads(result.stdout)
    assert (data["meta"]["statements"], data["meta"]["changes"]) == (2, 1)


def test_execute_command_on_an_unlocked_table_is_not_a_lock(cli, db):
    """Before: 'error: database is locked by another process'."""
    result = cli("d1", "execute", "DB", "--command", "SELECT * FROM unlocked_items")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: command:1: no such table: unlocked_items (in: SELECT * FROM unlocked_items)\n"
    )


def test_local_and_remote_together_is_a_usage_error(cli, db):
    result = cli("d1", "execute", "DB", "--local", "--remote", "--command", "SELECT 1")
    assert result.exit_code == 2
    assert "--local and --remote cannot be combined" in result.stderr
    assert cli("d1", "list", "--local", "--json").exit_code == 0


def test_failure_with_json_is_a_json_error_on_stdout(cli, db):
    result = cli("d1", "execute", "DB", "--json", "--command", "SELECT * FROM nope")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": {
            "text": "command:1: no such table: nope (in: SELECT * FROM nope)",
            "notes": [],
            "kind": "error",
            "code": 1,
        }
    }


def test_delete_json(cli, db, project):
    result = cli("d1", "delete", "DB", "--yes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["database_name"], data["had_file"]) == ("worktime-db", True)
    assert data["config"] == str(project / "wrangler.toml")
