"""`migrations verify` and the verify step of `apply` (issue 12, part 2)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.support.migrations import SEED, SEED_DOWN, Project, make_project, table
from worktime_cli import migrations
from worktime_cli.errors import WorktimeError
from worktime_cli.migrations import reports
from worktime_cli.migrations.preflight import BrokenDownError
from worktime_cli.migrations.verify import VerifyResult


@pytest.fixture
def proj(project: Path) -> Project:
    return make_project(project)


def _verify(proj: Project) -> VerifyResult:
    return reports.verify_all(migrations.LocalMigrations(proj.cfg, None, proj.db))


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


def test_an_up_that_fails_on_a_fresh_database_is_reported_and_the_replay_goes_on(
    proj: Project,
) -> None:
    proj.write("0001_bad.sql", "INSERT INTO missing VALUES (1);\n")
    proj.write("0002_t.sql", *table(2))
    result = _verify(proj)
    assert [(m.name, m.up, m.down) for m in result.migrations] == [
        ("0001_bad.sql", "failed", "skipped"),
        ("0002_t.sql", "ok", "ok"),
    ]
    assert not result.ok


def test_apply_stops_its_check_at_a_failing_pending_up(proj: Project) -> None:
    """Apply's run stops at the failing one, so a broken down after it is not its concern."""
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0002_bad.sql", "INSERT INTO missing VALUES (1);\n")
    proj.write("0003_t3.sql", "CREATE TABLE t3 (x);\n", "SELECT 1;\n")
    with pytest.raises(WorktimeError, match=r"0002_bad.sql:1: no such table: missing"):
        migrations.apply(proj.cfg, proj.db, None)
    assert proj.applied() == ["0001_t1.sql"]


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


# The replay follows the schema incrementally (`schema_tracker.Tracker`): after every step its
# model must be exactly what a full read of sqlite_master gives, whatever the step did.
_STEPS = [
    "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT UNIQUE);\nCREATE INDEX a_v ON a(v);\n",
    "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));\n"
    "CREATE VIEW vb AS SELECT * FROM b;\n"
    "CREATE TRIGGER tb AFTER INSERT ON b BEGIN SELECT 1; END;\n",
    "DROP TABLE b;\n",  # its trigger goes with it; the view stays
    "CREATE TABLE b (x);\n",  # reuses the greatest rowid the DROP freed
    "ALTER TABLE a RENAME TO a2;\n",  # rewrites other rows: re-read all
    "ALTER TABLE a2 ADD COLUMN w TEXT;\n",
    "DROP INDEX a_v;\nDROP VIEW vb;\n",
    "PRAGMA writable_schema = ON;\n"
    "UPDATE sqlite_master SET sql = 'CREATE TABLE b (x, y)' WHERE name = 'b';\n",
    "CREATE TABLE IF NOT EXISTS b (z);\n",  # touched, not changed
    "INSERT INTO a2 (v) VALUES ('x');\n",  # no schema change at all
]


def _full(scratch: object) -> dict[int, tuple[str, str, str, str]]:
    from worktime_cli.migrations import schema_tracker
    from worktime_cli.migrations.scratch import Scratch

    assert isinstance(scratch, Scratch)
    rows = scratch.conn.execute(schema_tracker._ROWS).fetchall()
    return {rowid: schema_tracker._row(t, n, tbl, sql) for rowid, t, n, tbl, sql in rows}


def test_the_tracked_schema_is_always_the_whole_schema() -> None:
    from worktime_cli.migrations.scratch import Scratch
    from worktime_cli.sqlite.script import split

    with Scratch(track=True) as scratch:
        tracker = scratch.tracker
        assert tracker is not None
        for at, sql in enumerate(_STEPS):
            model = dict(tracker.rows)
            assert scratch.run(split(sql), f"step {at}") is None
            delta = tracker.refresh()
            assert tracker.rows == _full(scratch), sql
            assert tracker.order == sorted(tracker.rows)
            # The delta is exactly the change: applying it to the model before gives the model after.
            rebuilt = {r: row for r, row in model.items() if r not in delta.removed}
            rebuilt.update(delta.added)
            assert rebuilt == tracker.rows, sql
        # A step rolled back: the model is taken back with it.
        scratch.begin()
        scratch.statements(split("DROP TABLE a2;\nCREATE TABLE c (x);\n"), "rolled back")
        delta = tracker.refresh()
        assert tracker.rows == _full(scratch)
        scratch.rollback()
        tracker.undo(delta)
        assert tracker.rows == _full(scratch)
        assert tracker.refresh().rowids() == set()


def test_a_down_rolled_back_leaves_the_next_migrations_verified_on_the_right_schema(
    proj: Project,
) -> None:
    # 0002's down is broken (rolled back in the scratch); 0003 then stands on 0002's schema,
    # and its own down is checked against exactly that.
    proj.write("0001_a.sql", "CREATE TABLE a (x);\n")
    proj.write("0002_b.sql", "CREATE TABLE b (x);\nCREATE INDEX bi ON b(x);\n", "DROP INDEX bi;\n")
    proj.write("0003_c.sql", "CREATE TABLE c (x);\n", "DROP TABLE c;\nDROP INDEX bi;\n")
    proj.write("0004_d.sql", "ALTER TABLE a RENAME TO d;\n")  # derived: the reverse rename
    by_name = {m.name: m for m in _verify(proj).migrations}
    assert (by_name["0001_a.sql"].down, by_name["0002_b.sql"].down) == ("ok", "differs")
    assert by_name["0002_b.sql"].diff == ("+ table b: CREATE TABLE b (x)",)
    c = by_name["0003_c.sql"]
    assert (c.down, c.diff) == ("differs", ("- index bi: CREATE INDEX bi ON b(x)",))
    assert by_name["0004_d.sql"].down == "ok"


def test_apply_checks_the_pending_ones_on_ground_replayed_in_one_transaction(
    proj: Project,
) -> None:
    """The applied ones are replayed as one run; a failing one is still named."""
    for n in range(1, 4):
        proj.write(f"000{n}_t{n}.sql", *table(n))
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0004_t4.sql", "CREATE TABLE t4 (x);\n", "SELECT 1;\n")
    with pytest.raises(BrokenDownError, match=r"0004_t4\.sql"):
        migrations.apply(proj.cfg, proj.db, None)
    from worktime_cli.migrations import files, verify
    from worktime_cli.sqlite.script import split

    sources = files.read_all(files.discover(proj.migrations))
    broken = split("INSERT INTO nope VALUES (1);\n")
    sources[1] = dataclasses.replace(sources[1], statements=tuple(broken))
    checked = verify.replay(sources, check={"0004_t4.sql"})
    assert [(m.name, m.up) for m in checked] == [
        ("0002_t2.sql", "failed"),
        ("0004_t4.sql", "skipped"),
    ]
    assert "no such table: nope" in (checked[0].error or "")


def test_a_check_sqlite_rolled_back_by_itself_is_taken_back_from_the_model(proj: Project) -> None:
    # 0002's second up fails with OR ROLLBACK: SQLite ends the transaction itself. 0003 then
    # drops what 0002 made; its down puts it back, which only checks out on the real schema.
    proj.write("0001_keep.sql", "CREATE TABLE keep (x UNIQUE);\n")
    proj.write(
        "0002_u.sql",
        "CREATE TABLE u (x UNIQUE);\nINSERT OR ROLLBACK INTO keep VALUES (1);\n",
        "DROP TABLE u;\n",
    )
    proj.write("0003_drop_u.sql", "DROP TABLE u;\n", "CREATE TABLE u (x UNIQUE);\n")
    by_name = {m.name: m for m in _verify(proj).migrations}
    u = by_name["0002_u.sql"]
    assert u.down == "differs" and "up again after the down SQL fails" in (u.error or "")
    assert by_name["0003_drop_u.sql"].down == "ok"


# --- issue 19, part 7: a failing up is reported, and verify goes on past it ------------------

USERS = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"
    "CREATE TABLE sessions (id INTEGER PRIMARY KEY,\n"
    "  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE);\n"
)
ADD_EMAIL = "ALTER TABLE users ADD COLUMN email TEXT;\n"
REBUILD_USERS = (
    "PRAGMA defer_foreign_keys = ON;\n"
    "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n"
    "INSERT INTO users_new SELECT * FROM users;\n"
    "DROP TABLE users;\n"
    "ALTER TABLE users_new RENAME TO users;\n"
)
COPY_FAILS = "table users_new has 2 columns but 3 values were supplied"


def test_cli_verify_reports_a_failing_up_and_still_checks_the_migrations_after_it(
    cli, proj: Project
) -> None:
    proj.write("0001_users.sql", USERS)
    proj.write("0002_email.sql", ADD_EMAIL)
    path = proj.write("0003_rebuild.sql", REBUILD_USERS)
    # Stands on what 0003 builds past its failing copy; its down file restores nothing.
    proj.write("0004_audit.sql", "CREATE INDEX users_name ON users(name);\n", "SELECT 1;\n")
    proj.write("0005_t.sql", *table(5))
    result = cli("d1", "migrations", "verify", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [(m["name"], m["up"], m["down"]) for m in data["migrations"]] == [
        ("0001_users.sql", "ok", "ok"),
        ("0002_email.sql", "ok", "ok"),
        ("0003_rebuild.sql", "failed", "skipped"),
        ("0004_audit.sql", "ok", "differs"),
        ("0005_t.sql", "ok", "ok"),
    ]
    assert data["migrations"][2]["error"] == (
        f"{path}:3: {COPY_FAILS} (in: INSERT INTO users_new SELECT * FROM users;)"
    )
    assert data["migrations"][3]["diff"] == [
        "+ index users_name: CREATE INDEX users_name ON users(name)"
    ]
    assert data["problems"] == 2

    human = cli("d1", "migrations", "verify")
    assert human.exit_code == 1
    assert f"error: 0003_rebuild.sql: {path}:3: {COPY_FAILS}" in human.stderr
    assert "error: 0004_audit.sql: " in human.stderr


def test_every_failing_statement_of_an_up_is_named(proj: Project) -> None:
    path = proj.write(
        "0001_bad.sql",
        "CREATE TABLE a (x);\nINSERT INTO missing VALUES (1);\nCREATE TABLE b (y);\n"
        "INSERT INTO gone VALUES (2);\n",
    )
    proj.write("0002_t.sql", "CREATE INDEX bi ON b(y);\n")  # b exists: 0001 went on past line 2
    result = _verify(proj)
    bad, t = result.migrations
    assert (bad.up, bad.down) == ("failed", "skipped")
    assert bad.error is not None
    assert bad.error.startswith(f"{path}:2: no such table: missing")
    assert f"{path}:4: no such table: gone" in bad.error
    assert (t.up, t.down) == ("ok", "ok")
