"""worktime and the real wrangler 4 share migration files, the state file and d1_migrations."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.migrations import Project, make_project, table
from worktime_cli import migrations

pytestmark = [pytest.mark.wrangler, pytest.mark.slow]


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.seed()
    return p


def run_wrangler(wrangler: str, root: Path, *args: str) -> str:
    env = {**os.environ, "CI": "true", "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"}
    out = subprocess.run(
        [wrangler, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_worktime_applies_wrangler_sees_nothing_to_apply(wrangler: str, proj: Project) -> None:
    proj.write("0002_t2.sql", *table(2))
    migrations.apply(proj.cfg, proj.db, None)
    listed = run_wrangler(wrangler, proj.root, "d1", "migrations", "list", "worktime-db", "--local")
    assert "No migrations to apply!" in listed
    proj.write("0003_t3.sql", *table(3))
    listed = run_wrangler(wrangler, proj.root, "d1", "migrations", "list", "worktime-db", "--local")
    assert "0003_t3.sql" in listed
    assert "0002_t2.sql" not in listed and "0001_initial_schema.sql" not in listed
    # wrangler never runs our down files (they are in a subfolder).
    assert "down" not in listed


def test_wrangler_applies_worktime_agrees_in_the_same_order(wrangler: str, proj: Project) -> None:
    # Names whose numeric and lexicographic orders differ: both tools must agree.
    for name, n in (("10_ten.sql", 10), ("9_nine.sql", 9), ("0002_two.sql", 2)):
        proj.write(name, *table(n))
    run_wrangler(wrangler, proj.root, "d1", "migrations", "apply", "worktime-db", "--local")
    expected = [m.name for m in migrations.discover(proj.migrations)]
    assert expected == ["0001_initial_schema.sql", "0002_two.sql", "9_nine.sql", "10_ten.sql"]
    assert proj.applied() == expected  # wrangler's application order (ORDER BY id)
    status = migrations.status(proj.cfg, proj.db, None)
    assert [(m.name, m.state) for m in status.migrations] == [
        (name, "unverified") for name in expected
    ]
    # worktime builds on top, and can roll back what wrangler applied (down files exist).
    proj.write("0011_t11.sql", *table(11))
    assert migrations.apply(proj.cfg, proj.db, None).applied == ["0011_t11.sql"]
    migrations.rollback(proj.cfg, proj.db, None, steps=2)
    assert proj.applied() == expected[:-1]
    listed = run_wrangler(wrangler, proj.root, "d1", "migrations", "list", "worktime-db", "--local")
    assert "10_ten.sql" in listed and "0011_t11.sql" in listed and "9_nine.sql" not in listed


def test_wrangler_create_matches_ours(wrangler: str, proj: Project) -> None:
    run_wrangler(wrangler, proj.root, "d1", "migrations", "create", "worktime-db", "add notes")
    theirs = proj.migrations / "0002_add_notes.sql"
    ours_up = migrations.create(proj.cfg, proj.db, "more things").path
    assert ours_up.name == "0003_more_things.sql"
    header = theirs.read_text()
    ours = ours_up.read_text()
    # Same header layout: "-- Migration number: NNNN \t <ISO date>\n"
    assert header[: len("-- Migration number: 0002 \t ")] == "-- Migration number: 0002 \t "
    assert ours[: len("-- Migration number: 0003 \t ")] == "-- Migration number: 0003 \t "
    assert len(header) == len(ours) and header.endswith("Z\n")
