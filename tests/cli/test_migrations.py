"""`worktime d1 migrations …` and `worktime d1 restore` through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.migrations import SEED, Project, make_project, table
from worktime_cli.d1 import snapshots


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.seed()
    return p


COMMANDS = [
    ("d1", "migrations"),
    ("d1", "migrations", "create"),
    ("d1", "migrations", "list"),
    ("d1", "migrations", "apply"),
    ("d1", "migrations", "rollback"),
    ("d1", "migrations", "mark-applied"),
    ("d1", "migrations", "down"),
    ("d1", "migrations", "verify"),
    ("d1", "migrations", "lint"),
    ("d1", "restore"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_renders_with_example(cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    if len(command) > 2 or command[-1] == "restore":
        assert "Example:" in result.stdout
        assert "worktime d1 " in result.stdout


def test_create(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "create", "worktime-db", "add notes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "name": "0002_add_notes.sql",
        "path": str(proj.migrations / "0002_add_notes.sql"),
        "down_path": str(proj.migrations / "down" / "0002_add_notes.sql"),
    }
    slugged = cli("d1", "migrations", "create", "worktime-db", "Add/Users table!", "--json")
    assert slugged.exit_code == 0, slugged.output
    assert json.loads(slugged.stdout)["name"] == "0003_add_users_table.sql"
    bad = cli("d1", "migrations", "create", "worktime-db", "!!!")
    assert bad.exit_code == 2  # a usage error: nothing to name the file with
    assert bad.stderr.startswith("error: the migration message '!!!' has no letters or digits\n")
    assert not (proj.migrations / "0004_.sql").exists()


def test_list_json_shape_is_pinned(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "list", "worktime-db", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "database": "worktime-db",
        "path": str(proj.path),
        "exists": False,
        "migrations": [
            {
                "name": "0001_initial_schema.sql",
                "status": "pending",
                "applied_at": None,
                "out_of_order": False,
                "has_down": True,
                "down": "file",
            }
        ],
        "counts": {"applied": 0, "pending": 1, "drifted": 0, "missing": 0, "unverified": 0},
    }
    assert not proj.path.exists()  # list is read-only


def test_list_table(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "list", "worktime-db")
    assert result.exit_code == 0
    assert result.stdout == (
        " name                    ┃ status  ┃ applied at ┃ down \n"
        "━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━\n"
        " 0001_initial_schema.sql │ pending │            │ file \n"
    )
    assert result.stderr == "1 pending\n"


def test_apply_output_and_json(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "apply", "worktime-db")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        " name                    ┃ status  \n"
        "━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━\n"
        " 0001_initial_schema.sql │ applied \n"
    )
    assert re.fullmatch(
        r"✓ applied 1 migration\(s\) to worktime-db in \d+\.\d\d s\n", result.stderr
    )
    proj.write("0002_t2.sql", *table(2))
    result = cli("d1", "migrations", "apply", "worktime-db", "--json")
    data = json.loads(result.stdout)
    assert sorted(data) == [
        "applied",
        "database",
        "dry_run",
        "duration_ms",
        "error",
        "migrations",
        "snapshot",
        "warnings",
    ]
    assert data["applied"] == 1 and data["dry_run"] is False and data["error"] is None
    assert [(m["name"], m["status"]) for m in data["migrations"]] == [("0002_t2.sql", "applied")]
    assert sorted(data["migrations"][0]) == ["duration_ms", "name", "status"]
    assert data["snapshot"].endswith("-apply.sqlite")
    nothing = cli("d1", "migrations", "apply", "worktime-db")
    assert nothing.exit_code == 0
    assert nothing.stderr == "✓ no migrations to apply\n"


def test_apply_dry_run_prints_sql(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "apply", "worktime-db", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout == "-- 0001_initial_schema.sql\n" + SEED.read_text().rstrip("\n") + "\n"
    assert result.stderr == "dry run: 1 migration(s) would be applied; nothing changed\n"
    assert not proj.path.exists()


def test_apply_failure_names_file_and_line(cli, proj: Project) -> None:
    path = proj.write("0002_bad.sql", "CREATE TABLE x (a);\n\nINSERT INTO nope VALUES (1);\n")
    result = cli("d1", "migrations", "apply", "worktime-db")
    assert result.exit_code == 1
    assert result.exception is None
    assert result.stdout == (
        " name                    ┃ status  \n"
        "━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━\n"
        " 0001_initial_schema.sql │ applied \n"
        " 0002_bad.sql            │ failed  \n"
    )
    assert result.stderr.endswith(
        f"error: migration 0002_bad.sql failed: {path}:3: no such table: nope "
        "(in: INSERT INTO nope VALUES (1);)\n"
    )
    assert proj.applied() == ["0001_initial_schema.sql"]


def test_apply_warns_about_foreign_keys_off(cli, proj: Project) -> None:
    path = proj.write("0002_off.sql", "PRAGMA foreign_keys = OFF;\n")
    refused = cli("d1", "migrations", "apply", "worktime-db")
    assert refused.exit_code == 1
    assert refused.stderr.endswith("hint: fix them, or pass --allow fk-off to apply anyway\n")
    result = cli("d1", "migrations", "apply", "worktime-db", "--allow", "fk-off")
    assert result.exit_code == 0, result.output
    assert f"warning: {path}:1: PRAGMA foreign_keys = OFF has no effect here" in " ".join(
        result.stderr.split()
    )


def test_drift_is_refused_with_hint(cli, proj: Project) -> None:
    assert cli("d1", "migrations", "apply", "worktime-db").exit_code == 0
    proj.write("0001_initial_schema.sql", SEED.read_text() + "\n-- changed\n")
    result = cli("d1", "migrations", "apply", "worktime-db")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: applied migration(s) changed since they were applied: 0001_initial_schema.sql\n"
        "hint: restore the files (e.g. from git), or pass --allow-drift to apply the rest anyway\n"
    )
    listed = json.loads(cli("d1", "migrations", "list", "worktime-db", "--json").stdout)
    assert listed["counts"]["drifted"] == 1


def test_rollback_needs_yes_when_not_interactive(cli, proj: Project) -> None:
    cli("d1", "migrations", "apply", "worktime-db")
    refused = cli("d1", "migrations", "rollback", "worktime-db")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: refusing to roll back migrations of worktime-db without confirmation\n"
        "hint: pass --yes to confirm non-interactively\n"
    )
    assert proj.applied() == ["0001_initial_schema.sql"]
    dry = cli("d1", "migrations", "rollback", "worktime-db", "--dry-run")
    assert dry.exit_code == 0
    assert dry.stdout.startswith(
        "-- rollback of 0001_initial_schema.sql (down SQL from the down file)\n"
    )
    result = cli("d1", "migrations", "rollback", "worktime-db", "--yes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(data) == [
        "database",
        "dry_run",
        "duration_ms",
        "error",
        "migrations",
        "rolled_back",
        "snapshot",
        "warnings",
    ]
    assert data["migrations"][0] == {
        "name": "0001_initial_schema.sql",
        "status": "rolled back",
        "duration_ms": data["migrations"][0]["duration_ms"],
        "source": "file",
    }
    assert proj.applied() == []


def test_rollback_option_conflicts(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "rollback", "worktime-db", "--all", "--steps", "2", "--yes")
    assert result.exit_code == 2  # a usage error, as with --remote (tests/parity)
    assert result.stderr == "error: give only one of --steps, --to and --all\n"


def test_mark_applied(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "mark-applied", "worktime-db", "0001_initial_schema", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "database": "worktime-db",
        "name": "0001_initial_schema.sql",
        "status": "applied",
    }


def test_restore_list_and_restore(cli, proj: Project) -> None:
    cli("d1", "migrations", "apply", "worktime-db")
    assert cli("d1", "migrations", "rollback", "worktime-db", "--yes").exit_code == 0
    listed = cli("d1", "restore", "worktime-db", "--list", "--json")
    [snap] = json.loads(listed.stdout)
    assert sorted(snap) == ["created", "name", "operation", "path", "size"]
    assert snap["operation"] == "rollback"
    refused = cli("d1", "restore", "worktime-db")
    assert refused.exit_code == 1
    assert "refusing to restore worktime-db without confirmation" in refused.stderr
    result = cli("d1", "restore", "worktime-db", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"✓ restored worktime-db from {snap['name']}\n")
    assert proj.applied() == ["0001_initial_schema.sql"]
    assert cli("d1", "restore", "worktime-db", "nope", "--yes").stderr.startswith(
        "error: no snapshot 'nope' for database 'worktime-db'\n"
    )


def test_unknown_database(cli, proj: Project) -> None:
    result = cli("d1", "migrations", "list", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: database 'nope' is not configured in wrangler.toml")


def test_failed_apply_that_changed_nothing_suggests_no_restore(cli, proj: Project) -> None:
    """Issue 10 part 4: the suggested `worktime d1 restore` would have restored nothing."""
    assert cli("d1", "migrations", "apply", "worktime-db").exit_code == 0
    proj.write("0002_bad.sql", "INSERT INTO nope VALUES (1);\n")
    result = cli("d1", "migrations", "apply", "worktime-db")
    assert result.exit_code == 1
    assert "restore" not in result.stderr
    assert "snapshot" not in result.stderr
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []  # the first apply made none
    failed = cli("d1", "migrations", "apply", "worktime-db", "--json")
    assert failed.exit_code == 1
    envelope = json.loads(failed.stdout)  # one JSON document: the error envelope
    assert envelope["error"]["text"].endswith("(in: INSERT INTO nope VALUES (1);)")


def test_empty_migration_refused_and_allow_empty(cli, proj: Project) -> None:
    assert cli("d1", "migrations", "create", "worktime-db", "todo").exit_code == 0
    refused = cli("d1", "migrations", "apply", "worktime-db")
    assert refused.exit_code == 1
    assert "--allow-empty" in refused.stderr.splitlines()[0]
    assert not proj.path.exists()
    ok = cli("d1", "migrations", "apply", "worktime-db", "--allow-empty")
    assert ok.exit_code == 0, ok.output
    assert proj.applied() == ["0001_initial_schema.sql", "0002_todo.sql"]


def test_list_says_no_down_for_a_down_file_of_comments(cli, proj: Project) -> None:
    assert cli("d1", "migrations", "create", "worktime-db", "later").exit_code == 0
    listed = json.loads(cli("d1", "migrations", "list", "worktime-db", "--json").stdout)
    assert [(m["name"], m["has_down"]) for m in listed["migrations"]] == [
        ("0001_initial_schema.sql", True),
        ("0002_later.sql", False),  # `create` writes a down file of comments only
    ]
