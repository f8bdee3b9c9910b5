"""Migrations parity: every shared scenario runs on the local target and on the remote target
(the project's fake Cloudflare API), through the real CLI, and must give the same results and
the same errors (message, hint and exit code).

Both targets share one project folder (one set of migration files), so a scenario does each
step on both targets and compares before the next step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare, fake_fixture

fake = pytest.fixture(name="fake")(fake_fixture)

TARGETS = {"local": ("--local",), "remote": ("--remote",)}


class Both:
    """Runs one `worktime d1 migrations …` command on both targets and compares."""

    def __init__(self, cli: Any, project: Path) -> None:
        self.cli = cli
        self.project = project

    def write(self, name: str, up: str, down: str | None = None) -> None:
        folder = self.project / "migrations"
        (folder / "down").mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(up)
        if down is not None:
            (folder / "down" / name).write_text(down)

    def run(self, *args: str) -> dict[str, Any]:
        """The command on each target: {target: result}; asserts their exit codes agree."""
        results = {
            target: self.cli("d1", "migrations", *args, *flags) for target, flags in TARGETS.items()
        }
        codes = {t: r.exit_code for t, r in results.items()}
        assert len(set(codes.values())) == 1, (codes, {t: r.output for t, r in results.items()})
        return results

    def same(self, *args: str) -> Any:
        """Run with --json; the results (timings, snapshot and location aside) must be equal."""
        results = self.run(*args, "--json")
        shapes = {t: _comparable(json.loads(r.stdout)) for t, r in results.items()}
        assert shapes["local"] == shapes["remote"]
        return shapes["local"]

    def same_error(self, *args: str, code: int = 1) -> str:
        """Must fail on both with the same exit code and the same error and hint."""
        results = self.run(*args)
        errors = {t: _error_lines(r.stderr) for t, r in results.items()}
        assert results["local"].exit_code == code, results["local"].output
        assert errors["local"] == errors["remote"]
        assert errors["local"], results["local"].output
        return "\n".join(errors["local"])


def _comparable(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: _comparable(v)
            for k, v in data.items()
            # "target": a remote write's target (name, id, env, account), remote only.
            if k
            not in {"duration_ms", "snapshot", "path", "exists", "database_id", "remote", "target"}
            and k != "applied_at"
        }
    if isinstance(data, list):
        return [_comparable(v) for v in data]
    return data


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("error: ", "hint: "))]


@pytest.fixture
def both(fake: FakeCloudflare, cli: Any, project: Path) -> Both:
    db = fake.add_database("worktime-db")
    (project / "wrangler.toml").write_text(
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{db.uuid}"\nmigrations_dir = "migrations"\n'
    )
    b = Both(cli, project)
    for n in (1, 2, 3):
        b.write(f"000{n}_t{n}.sql", f"CREATE TABLE t{n} (x);\n", f"DROP TABLE t{n};\n")
    return b


def _names(result: dict[str, Any], status: str) -> list[str]:
    return [m["name"] for m in result["migrations"] if m["status"] == status]


def test_list_then_apply(both: Both) -> None:
    listed = both.same("list", "DB")
    assert listed["counts"] == {
        "applied": 0,
        "pending": 3,
        "drifted": 0,
        "missing": 0,
        "unverified": 0,
    }
    applied = both.same("apply", "DB", "--to", "0002_t2")
    assert _names(applied, "applied") == ["0001_t1.sql", "0002_t2.sql"]
    assert both.same("apply", "DB")["applied"] == 1
    assert both.same("apply", "DB")["migrations"] == []
    assert both.same("list", "DB")["counts"]["applied"] == 3


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ((), ["0003_t3.sql"]),
        (("--steps", "2"), ["0003_t3.sql", "0002_t2.sql"]),
        (("--to", "0001_t1"), ["0003_t3.sql", "0002_t2.sql"]),
        (("--all",), ["0003_t3.sql", "0002_t2.sql", "0001_t1.sql"]),
    ],
    ids=["default", "steps", "to", "all"],
)
def test_rollback(both: Both, how: tuple[str, ...], expected: list[str]) -> None:
    both.same("apply", "DB")
    dry = both.same("rollback", "DB", *how, "--dry-run")
    assert [m["name"] for m in dry["migrations"]] == expected
    done = both.same("rollback", "DB", *how, "--yes")
    assert _names(done, "rolled back") == expected
    assert done["rolled_back"] == len(expected)
    assert both.same("list", "DB")["counts"]["pending"] == len(expected)


def test_rollback_option_conflict_is_a_usage_error(both: Both) -> None:
    both.same("apply", "DB")
    message = both.same_error("rollback", "DB", "--steps", "1", "--all", "--yes", code=2)
    assert message == "error: give only one of --steps, --to and --all"


def test_rollback_to_a_migration_not_applied(both: Both) -> None:
    both.same("apply", "DB", "--to", "0001_t1")
    message = both.same_error("rollback", "DB", "--to", "0003_t3", "--yes")
    assert message == "error: migration '0003_t3' is not applied to worktime-db"


def test_drift(both: Both) -> None:
    both.same("apply", "DB", "--to", "0002_t2")
    both.write("0001_t1.sql", "CREATE TABLE t1 (x, y);\n")
    assert _names(both.same("list", "DB"), "drifted") == ["0001_t1.sql"]
    message = both.same_error("apply", "DB")
    assert message == (
        "error: applied migration(s) changed since they were applied: 0001_t1.sql\n"
        "hint: restore the files (e.g. from git), or pass --allow-drift to apply the rest anyway"
    )
    allowed = both.same("apply", "DB", "--allow-drift")
    assert _names(allowed, "applied") == ["0003_t3.sql"]
    assert allowed["warnings"] == [
        "applied migration(s) changed since they were applied: 0001_t1.sql"
    ]


def test_out_of_order(both: Both, project: Path) -> None:
    (project / "migrations" / "0002_t2.sql").unlink()
    both.same("apply", "DB")
    both.write("0002_t2.sql", "CREATE TABLE t2 (x);\n", "DROP TABLE t2;\n")
    listed = both.same("list", "DB")
    assert [m["name"] for m in listed["migrations"] if m["out_of_order"]] == ["0002_t2.sql"]
    message = both.same_error("apply", "DB")
    assert message == (
        "error: pending migration(s) sort before the newest applied one: 0002_t2.sql\n"
        "hint: usually a branch merge; check they do not conflict, then pass --allow-out-of-order"
    )
    assert _names(both.same("apply", "DB", "--allow-out-of-order"), "applied") == ["0002_t2.sql"]


def test_missing_down(both: Both, project: Path) -> None:
    both.write("0004_t4.sql", "CREATE TABLE t4 (x);\nINSERT INTO t4 VALUES (1);\n")  # no down
    both.write("0005_t5.sql", "CREATE TABLE t5 (x);\nDELETE FROM t4;\n", "-- nothing to undo?\n")
    both.same("apply", "DB")
    listed = both.same("list", "DB")
    assert [m["has_down"] for m in listed["migrations"]] == [True, True, True, False, False]
    assert [m["down"] for m in listed["migrations"]] == ["file", "file", "file", "none", "none"]
    message = both.same_error("rollback", "DB", "--steps", "2", "--yes")
    down = project / "migrations" / "down"
    ups = project / "migrations"
    assert message == (
        f"error: cannot roll back: 0005_t5.sql, 0004_t4.sql have no down SQL (no statement in "
        f"{down}, none captured at apply time, none derivable: "
        f"0005_t5.sql: {ups / '0005_t5.sql'}:2: DELETE FROM t4; (DELETE loses the rows it deletes); "
        f"0004_t4.sql: {ups / '0004_t4.sql'}:2: INSERT INTO t4 VALUES (1); "
        "(INSERT's rows cannot be told apart from older ones)); nothing changed\n"
        f"hint: write the SQL that undoes it in {down / '0005_t5.sql'}, then retry"
    )
    assert both.same("list", "DB")["counts"]["applied"] == 5  # nothing changed


def test_create_only_migrations_without_down_files_roll_back_derived(both: Both) -> None:
    both.write("0004_t4.sql", "CREATE TABLE t4 (x);\nCREATE INDEX t4_x ON t4(x);\n")
    both.write("0005_t5.sql", "ALTER TABLE t4 ADD COLUMN y TEXT;\nALTER TABLE t4 RENAME TO t44;\n")
    both.same("apply", "DB")
    listed = both.same("list", "DB")
    assert [m["down"] for m in listed["migrations"]][3:] == ["derived", "derived"]
    done = both.same("rollback", "DB", "--steps", "2", "--yes")
    assert [(m["name"], m["source"]) for m in done["migrations"]] == [
        ("0005_t5.sql", "derived"),
        ("0004_t4.sql", "derived"),
    ]
    assert both.same("list", "DB")["counts"] == {
        "applied": 3,
        "pending": 2,
        "drifted": 0,
        "missing": 0,
        "unverified": 0,
    }


def test_missing_file_rolls_back_from_captured_down_sql(both: Both, project: Path) -> None:
    both.same("apply", "DB")
    (project / "migrations" / "0003_t3.sql").unlink()
    (project / "migrations" / "down" / "0003_t3.sql").unlink()
    assert _names(both.same("list", "DB"), "missing") == ["0003_t3.sql"]
    done = both.same("rollback", "DB", "--yes")
    assert [(m["name"], m["source"]) for m in done["migrations"]] == [("0003_t3.sql", "captured")]


def test_empty_migration(both: Both) -> None:
    both.write("0004_t4.sql", "-- to do\n")
    message = both.same_error("apply", "DB")
    assert message.startswith(
        "error: migration(s) with no SQL statement: 0004_t4.sql; nothing applied "
        "(write the SQL, or pass --allow-empty"
    )
    assert both.same("list", "DB")["counts"]["applied"] == 0
    assert both.same("apply", "DB", "--allow-empty")["applied"] == 4


def test_failing_migration(both: Both) -> None:
    both.write("0003_t3.sql", "CREATE TABLE t3 (x);\nINSERT INTO nope VALUES (1);\n")
    results = both.run("apply", "DB")
    for result in results.values():
        assert result.exit_code == 1
        assert result.stdout.splitlines()[2:] == [
            " 0001_t1.sql │ applied ",
            " 0002_t2.sql │ applied ",
            " 0003_t3.sql │ failed  ",
        ]
        # SQLite and D1 word the cause differently; the frame is the same. (Remote also says
        # its Time Travel way back first: the error is the first error line on both.)
        assert _error_lines(result.stderr)[0].startswith("error: migration 0003_t3.sql failed: ")
        assert "no such table: nope" in result.stderr
    envelopes = {t: json.loads(r.stdout) for t, r in both.run("apply", "DB", "--json").items()}
    for envelope in envelopes.values():
        assert envelope["error"]["text"].startswith("migration 0003_t3.sql failed: ")
        assert envelope["error"]["code"] == 1
    assert both.same("list", "DB")["counts"] == {
        "applied": 2,
        "pending": 1,
        "drifted": 0,
        "missing": 0,
        "unverified": 0,
    }


# --- the same through the core: the same exception classes from both targets -----------------


@pytest.fixture(params=["local", "remote"])
def target(request: pytest.FixtureRequest, both: Both, fake: FakeCloudflare) -> Iterator[Any]:
    from worktime_cli.migrations import LocalMigrations
    from worktime_cli.project import config
    from worktime_cli.remote.client import Client
    from worktime_cli.remote.migrations import RemoteMigrations

    cfg = config.load(both.project / "wrangler.toml")
    if request.param == "local":
        yield LocalMigrations(cfg, None, "DB")
        return
    with Client(TOKEN, base_url=fake.url, account_id=ACCOUNT, sleep=lambda _s: None) as client:
        yield RemoteMigrations(client, cfg, "DB")


def test_core_errors_are_the_same_classes(target: Any, both: Both) -> None:
    from worktime_cli.errors import UsageError
    from worktime_cli.migrations import DriftError, MigrationError, engine, reports

    assert engine.apply(target, to="0001_t1").applied == ["0001_t1.sql"]
    both.write("0001_t1.sql", "CREATE TABLE t1 (x, y);\n")
    with pytest.raises(DriftError):
        engine.apply(target)
    assert [s.state for s in reports.status(target).migrations] == ["drifted", "pending", "pending"]
    with pytest.raises(UsageError) as usage:
        engine.rollback(target, steps=1, all=True)
    assert usage.value.exit_code == 2
    both.write("0002_t2.sql", "INSERT INTO nope VALUES (1);\n")
    with pytest.raises(MigrationError) as failed:
        engine.apply(target, allow_drift=True)
    assert [(m.name, m.status) for m in failed.value.result.migrations] == [
        ("0002_t2.sql", "failed"),
        ("0003_t3.sql", "pending"),
    ]
    assert failed.value.result.snapshot is None  # nothing changed: nothing to restore
