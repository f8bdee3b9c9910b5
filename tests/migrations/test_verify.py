"""`migrations verify` and the verify step of `apply` (issue 12, part 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.migrations import SEED, SEED_DOWN, Project, make_project, table
from worktime_cli import migrations
from worktime_cli.migrations import engine
from worktime_cli.migrations.engine import BrokenDownError
from worktime_cli.migrations.verify import VerifyResult


@pytest.fixture
def proj(project: Path) -> Project:
    return make_project(project)


def _verify(proj: Project) -> VerifyResult:
    return engine.verify_all(migrations.LocalMigrations(proj.cfg, None, proj.db))


def test_every_kind_of_down_verified(proj: Project) -> None:
    proj.write("0001_initial_schema.sql", SEED.read_text(), SEED_DOWN.read_text())
    proj.write("0002_t2.sql", "CREATE TABLE t2 (x);\n")  # derived
    proj.write(
        "0003_fill.sql", "INSERT INTO t2 VALUES (1);\n"
    )  # no down: irreversible, not an error
    result = _verify(proj)
    assert [(m.name, m.up, m.down, m.down_source) for m in result.migrations] == [
        ("0001_initial_schema.sql", "ok", "ok", "file"),
        ("0002_t2.sql", "ok", "ok", "derived"),
        ("0003_fill.sql", "ok", "none", "none"),
    ]
    assert result.ok
    assert not proj.path.exists()  # the real database is never touched


def test_a_down_that_does_not_restore_the_schema_is_reported_with_a_diff(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    proj.write(
        "0002_t2.sql", table(2)[0], "DROP TABLE t2;\n"
    )  # forgets nothing: the index goes too
    proj.write(
        "0003_t3.sql",
        "CREATE TABLE t3 (x);\nCREATE VIEW v3 AS SELECT x FROM t3;\n",
        "DROP VIEW v3;\n",
    )
    proj.write("0004_t4.sql", "CREATE TABLE t4 (x);\n", "DROP TABLE nope;\n")
    result = _verify(proj)
    by_name = {m.name: m for m in result.migrations}
    assert by_name["0002_t2.sql"].down == "ok"  # DROP TABLE drops its index: restored
    t3 = by_name["0003_t3.sql"]
    assert (t3.down, t3.diff) == ("differs", ("+ table t3: CREATE TABLE t3 (x)",))
    t4 = by_name["0004_t4.sql"]
    assert t4.down == "failed" and "no such table: nope" in (t4.error or "")
    assert [m.name for m in result.problems] == ["0003_t3.sql", "0004_t4.sql"]


def test_an_up_that_fails_on_a_fresh_database_stops_the_replay(proj: Project) -> None:
    proj.write("0001_bad.sql", "INSERT INTO missing VALUES (1);\n")
    proj.write("0002_t.sql", *table(2))
    result = _verify(proj)
    assert [(m.name, m.up) for m in result.migrations] == [
        ("0001_bad.sql", "failed"),
        ("0002_t.sql", "skipped"),
    ]
    assert not result.ok


def test_up_again_must_build_the_same_schema(proj: Project) -> None:
    # The down leaves an object behind that the second up trips over.
    proj.write("0001_t.sql", "CREATE TABLE a (x);\nCREATE TABLE b (y);\n", "DROP TABLE a;\n")
    [m] = _verify(proj).migrations
    assert m.down == "differs"
    assert m.diff == ("+ table b: CREATE TABLE b (y)",)


def test_apply_refuses_a_broken_down_before_touching_the_database(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    proj.write(
        "0002_t2.sql", "CREATE TABLE t2 (x);\nCREATE INDEX i2 ON t2(x);\n", "DROP INDEX i2;\n"
    )
    before = proj.dump()
    with pytest.raises(
        BrokenDownError, match=r"the down SQL of 0002_t2.sql does not undo"
    ) as caught:
        migrations.apply(proj.cfg, proj.db, None)
    assert "+ table t2: CREATE TABLE t2 (x)" in caught.value.message
    assert caught.value.hint is not None and "--allow-broken-down" in caught.value.hint
    assert proj.dump() == before
    result = migrations.apply(proj.cfg, proj.db, None, allow_broken_down=True)
    assert result.applied == ["0002_t2.sql"]
    assert any("down SQL of 0002_t2.sql is broken" in w for w in result.warnings)


def test_apply_verifies_on_the_applied_history(proj: Project) -> None:
    """The pending one is checked on top of what is applied, in the order it was applied."""
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0002_add.sql", "ALTER TABLE t1 ADD COLUMN w TEXT;\n")  # derived: DROP COLUMN w
    result = migrations.apply(proj.cfg, proj.db, None)
    assert result.applied == ["0002_add.sql"] and result.warnings == ()


def test_cli_verify_exit_codes_and_json(cli, proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    ok = cli("d1", "migrations", "verify")
    assert ok.exit_code == 0, ok.output
    assert "verified 1 migration(s) of worktime-db" in ok.stderr
    proj.write("0002_t2.sql", "CREATE TABLE t2 (x);\n", "SELECT 1;\n")
    bad = cli("d1", "migrations", "verify", "worktime-db", "--json")
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["problems"] == 1
    assert data["migrations"][1] == {
        "name": "0002_t2.sql",
        "up": "ok",
        "down": "differs",
        "down_source": "file",
        "error": f"{proj.migrations / 'down' / '0002_t2.sql'}: does not restore the schema from before 0002_t2.sql",
        "diff": ["+ table t2: CREATE TABLE t2 (x)"],
    }


def test_cli_apply_refuses_a_broken_down(cli, proj: Project) -> None:
    proj.write("0001_t2.sql", "CREATE TABLE t2 (x);\n", "SELECT 1;\n")
    refused = cli("d1", "migrations", "apply", "worktime-db")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: the down SQL of 0001_t2.sql does not undo the migration"
    )
    assert not proj.path.exists()
    allowed = cli("d1", "migrations", "apply", "worktime-db", "--allow-broken-down")
    assert allowed.exit_code == 0, allowed.output
    assert proj.applied() == ["0001_t2.sql"]


def test_cli_down_prints_and_writes_derived_sql(cli, proj: Project) -> None:
    proj.write("0001_t.sql", "CREATE TABLE t (x);\nCREATE INDEX ti ON t(x);\n")
    shown = cli("d1", "migrations", "down", "worktime-db", "0001_t")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == (
        "-- Derived by worktime from 0001_t.sql: the inverse of each statement, in reverse order.\n"
        "DROP INDEX ti;\nDROP TABLE t;\n"
    )
    assert "derived from the up file" in shown.stderr
    wrote = cli("d1", "migrations", "down", "worktime-db", "0001_t", "--write", "--json")
    assert wrote.exit_code == 0, wrote.output
    down = proj.migrations / "down" / "0001_t.sql"
    assert json.loads(wrote.stdout)["written"] == str(down)
    assert down.read_text().endswith("DROP INDEX ti;\nDROP TABLE t;\n")
    again = cli("d1", "migrations", "down", "worktime-db", "0001_t", "--write")
    assert again.exit_code == 1 and "already holds the down SQL" in again.stderr
