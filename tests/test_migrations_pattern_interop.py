"""`migrations_pattern`, wrangler 4.164's order and its symlink rule, against the real wrangler.

The pattern tests need wrangler >= 4.98 (it added `migrations_pattern`) and are skipped for an
older one; for those (4.86) the last test checks worktime without a pattern is unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.migrations import DATABASE_ID, Project, seeded, table
from worktime_cli import migrations
from worktime_cli.errors import ConfigError, WorktimeError
from worktime_cli.migrations import files

pytestmark = [pytest.mark.wrangler, pytest.mark.slow]

PATTERN_SINCE = (4, 98, 0)


def run_wrangler(
    wrangler: str, root: Path, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
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
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="session")
def wrangler_version(wrangler: str) -> tuple[int, ...]:
    out = subprocess.run([wrangler, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    assert found, out.stdout + out.stderr
    return tuple(int(x) for x in found.groups())


@pytest.fixture
def modern(wrangler: str, wrangler_version: tuple[int, ...]) -> str:
    if wrangler_version < PATTERN_SINCE:
        pytest.skip(f"wrangler {wrangler_version} predates migrations_pattern (4.98)")
    return wrangler


def project_with(root: Path, pattern: str | None) -> Project:
    text = (
        'name = "worktime-backend"\n\n[[d1_databases]]\nbinding = "DB"\n'
        f'database_name = "worktime-db"\ndatabase_id = "{DATABASE_ID}"\n'
        'migrations_dir = "migrations"\n'
    )
    if pattern is not None:
        text += f'migrations_pattern = "{pattern}"\n'
    (root / "wrangler.toml").write_text(text, encoding="utf-8")
    return Project(root)


def put(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pending_in(listed: str) -> list[str]:
    """The names `wrangler d1 migrations list` prints, in its order."""
    return re.findall(r"│ (\S+\.sql)\s*│", listed)


def worktime_names(p: Project) -> list[str]:
    return [m.name for m in migrations.discover(files.layout(p.cfg, p.db))]


def test_worktime_applies_under_the_drizzle_pattern_wrangler_agrees(
    modern: str, project: Path
) -> None:
    p = project_with(project, "migrations/*/migration.sql")
    put(project, "migrations/0001_t1/migration.sql", table(1)[0])
    put(project, "migrations/2_t2/migration.sql", table(2)[0])
    put(project, "migrations/0099_stray.sql", "DROP TABLE t1;\n")  # matched by neither tool
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert pending_in(listed.stdout) == worktime_names(p)
    assert migrations.apply(p.cfg, p.db, None).applied == [
        "0001_t1/migration.sql",
        "2_t2/migration.sql",
    ]
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert "No migrations to apply!" in listed.stdout, listed.stdout
    # Then one created by worktime: wrangler sees it (and never its down file).
    created = migrations.create(p.cfg, p.db, "t10")
    created.path.write_text(table(10)[0], encoding="utf-8")
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert pending_in(listed.stdout) == ["0003_t10/migration.sql"]


def test_wrangler_applies_under_the_pattern_worktime_agrees(modern: str, project: Path) -> None:
    p = project_with(project, "migrations/*/migration.sql")
    # Numeric and text orders differ: 2 < 10 < 0011 by number.
    put(project, "migrations/10_t10/migration.sql", table(10)[0])
    put(project, "migrations/2_t2/migration.sql", table(2)[0])
    put(project, "migrations/0011_t11/migration.sql", seeded(11))
    run_wrangler(modern, project, "d1", "migrations", "apply", "worktime-db", "--local")
    expected = ["2_t2/migration.sql", "10_t10/migration.sql", "0011_t11/migration.sql"]
    assert worktime_names(p) == expected
    assert p.applied() == expected  # wrangler's order of application
    status = migrations.status(p.cfg, p.db, None)
    assert [(m.name, m.state) for m in status.migrations] == [
        (name, "unverified") for name in expected
    ]
    # worktime rolls back what wrangler applied (the inverse derived: schema matches).
    put(project, "migrations-down/0011_t11/migration.sql", "DROP TABLE t11;\n")
    result = migrations.rollback(p.cfg, p.db, None, steps=2)
    assert result.rolled_back == ["0011_t11/migration.sql", "10_t10/migration.sql"]
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert pending_in(listed.stdout) == ["10_t10/migration.sql", "0011_t11/migration.sql"]


def test_worktime_down_files_are_out_of_a_recursive_patterns_reach(
    modern: str, project: Path
) -> None:
    """The hazard: wrangler ran `migrations/down/*.sql` under `migrations/**/*.sql`."""
    p = project_with(project, "migrations/**/*.sql")
    created = migrations.create(p.cfg, p.db, "t1")
    created.path.write_text(table(1)[0], encoding="utf-8")
    created.down_path.write_text(table(1)[1], encoding="utf-8")
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert pending_in(listed.stdout) == ["0001_t1.sql"]
    run_wrangler(modern, project, "d1", "migrations", "apply", "worktime-db", "--local")
    assert p.applied() == ["0001_t1.sql"]
    assert p.query("SELECT name FROM sqlite_master WHERE name = 't1'") == [("t1",)]
    # A down file left where the pattern reaches it is one wrangler runs: worktime refuses.
    put(project, "migrations/down/0001_t1.sql", table(1)[1])
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert (
        pending_in(listed.stdout)
        == ["down/0001_t1.sql"]
        == [m.name for m in migrations.status(p.cfg, p.db, None).pending]
    )
    with pytest.raises(WorktimeError, match="matches down files"):
        migrations.apply(p.cfg, p.db, None)


def test_symlinked_migrations_are_skipped_by_both(modern: str, project: Path) -> None:
    p = project_with(project, None)
    put(project, "migrations/0001_t1.sql", table(1)[0])
    real = put(project, "shared/t2.sql", table(2)[0])
    (project / "migrations" / "0002_t2.sql").symlink_to(real)
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert pending_in(listed.stdout) == worktime_names(p) == ["0001_t1.sql"]
    assert migrations.apply(p.cfg, p.db, None).applied == ["0001_t1.sql"]
    listed = run_wrangler(modern, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert "No migrations to apply!" in listed.stdout


def test_a_pattern_outside_migrations_dir_is_refused_alike(modern: str, project: Path) -> None:
    p = project_with(project, "schema/*.sql")
    put(project, "migrations/0001_t1.sql", table(1)[0])
    theirs = run_wrangler(
        modern, project, "d1", "migrations", "list", "worktime-db", "--local", ok=False
    )
    assert theirs.returncode != 0
    with pytest.raises(ConfigError) as ours:
        migrations.status(p.cfg, p.db, None)
    # wrangler's words, with the config's file name.
    first_line = ours.value.message.splitlines()[0]
    assert first_line in theirs.stdout + theirs.stderr


def test_without_a_pattern_both_tools_agree_on_any_supported_wrangler(
    wrangler: str, project: Path
) -> None:
    """For 4.86 (no `migrations_pattern`) too: worktime's default layout is unchanged."""
    p = project_with(project, None)
    put(project, "migrations/0001_t1.sql", table(1)[0])
    put(project, "migrations/down/0001_t1.sql", table(1)[1])
    put(project, "migrations/0002_t2.sql", table(2)[0])
    assert worktime_names(p) == ["0001_t1.sql", "0002_t2.sql"]
    assert migrations.apply(p.cfg, p.db, None).applied == ["0001_t1.sql", "0002_t2.sql"]
    listed = run_wrangler(wrangler, project, "d1", "migrations", "list", "worktime-db", "--local")
    assert "No migrations to apply!" in listed.stdout
    put(project, "migrations/0003_t3.sql", table(3)[0])
    run_wrangler(wrangler, project, "d1", "migrations", "apply", "worktime-db", "--local")
    assert p.applied() == ["0001_t1.sql", "0002_t2.sql", "0003_t3.sql"]
    assert [m.state for m in migrations.status(p.cfg, p.db, None).migrations] == [
        "applied",
        "applied",
        "unverified",
    ]
    assert migrations.rollback(p.cfg, p.db, None, steps=3).rolled_back == [
        "0003_t3.sql",
        "0002_t2.sql",
        "0001_t1.sql",
    ]
