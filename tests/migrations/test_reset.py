"""`d1 reset` (issue 12, part 5): local only, snapshot first, migrations, then the seed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import Project, make_project, table
from worktime_cli import migrations
from worktime_cli.d1 import snapshots


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.seed()
    p.write("0002_t2.sql", *table(2))
    return p


def test_reset_rebuilds_from_migrations_and_seeds(cli, proj: Project, project: Path) -> None:
    migrations.apply(proj.cfg, proj.db, None)
    conn = sqlite3.connect(proj.path)
    conn.execute("INSERT INTO t2 (v) VALUES ('old')")
    conn.execute("CREATE TABLE stray (x)")
    conn.commit()
    conn.close()
    (project / "seed.sql").write_text("INSERT INTO t2 (v) VALUES ('seeded');\n")
    result = cli("d1", "reset", "worktime-db", "--seed", "seed.sql", "--yes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["applied"] == ["0001_initial_schema.sql", "0002_t2.sql"]
    assert data["seed_statements"] == 1
    assert proj.query("SELECT v FROM t2") == [("seeded",)]
    assert ("table", "stray") not in [(r[0], r[1]) for r in proj.master()]
    [snap] = snapshots.list_snapshots(proj.cfg, proj.db, None)
    assert data["snapshot"] == str(snap.path)
    # The snapshot holds the old content: restore brings it back.
    assert cli("d1", "restore", "worktime-db", snap.name, "--yes").exit_code == 0
    assert proj.query("SELECT v FROM t2") == [("old",)]


def test_reset_refuses_remote_outright(cli, proj: Project) -> None:
    result = cli("d1", "reset", "worktime-db", "--remote", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: d1 reset is local only")


def test_reset_without_a_file_yet_and_without_yes(cli, proj: Project) -> None:
    refused = cli("d1", "reset", "worktime-db")  # no terminal, no --yes
    assert refused.exit_code == 1 and "pass --yes" in refused.stderr
    assert not proj.path.exists()
    done = cli("d1", "reset", "worktime-db", "--yes")
    assert done.exit_code == 0, done.output
    assert proj.applied() == ["0001_initial_schema.sql", "0002_t2.sql"]
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []  # nothing to keep


def test_a_missing_seed_changes_nothing(cli, proj: Project) -> None:
    migrations.apply(proj.cfg, proj.db, None)
    before = proj.dump()
    result = cli("d1", "reset", "worktime-db", "--seed", "nope.sql", "--yes")
    assert result.exit_code == 1 and "no seed file" in result.stderr
    assert proj.dump() == before
