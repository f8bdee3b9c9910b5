"""`migrations create --alter` (issue 12, part 4): a D1-safe rebuild that loses no row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.support.migrations import Project, make_project
from worktime_cli import migrations
from worktime_cli.errors import UsageError
from worktime_cli.migrations import alter, reports
from worktime_cli.migrations.alter import AlterSpec

ROWS = (
    "INSERT INTO users (id, github_user_id, github_username, email, avatar_url) VALUES "
    "(1, 'g1', 'ada', 'ada@example.com', 'a.png'), (2, 'g2', 'bob', NULL, NULL);"
    "INSERT INTO time_sessions (id, user_id, repo_owner, repo_name, pr_number, start_time, status)"
    " VALUES (10, 1, 'o', 'r', 7, '2026-01-01 10:00:00', 'completed'),"
    " (11, 2, 'o', 'r', 8, '2026-01-02 10:00:00', 'active');"
    "INSERT INTO daily_stats (id, user_id, repo_owner, repo_name, date, session_count) VALUES "
    "(20, 1, 'o', 'r', '2026-01-01', 1), (21, 2, 'o', 'r', '2026-01-02', 1);"
)


@pytest.fixture
def proj(project: Path) -> Project:
    proj = make_project(project)
    proj.seed()
    migrations.apply(proj.cfg, proj.db, None)
    conn = sqlite3.connect(proj.path)
    conn.executescript(ROWS)
    conn.close()
    return proj


def _rows(proj: Project, table: str) -> list[tuple[object, ...]]:
    return proj.query(f"SELECT * FROM {table} ORDER BY id")


def _fk_on(proj: Project, sql: str) -> None:
    """Run `sql` on the database with foreign keys on, as D1 always has them."""
    conn = sqlite3.connect(proj.path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(sql)
    conn.close()


def test_a_parent_rebuild_keeps_every_child_row_and_rolls_back(proj: Project) -> None:
    users, sessions, stats = (_rows(proj, t) for t in ("users", "time_sessions", "daily_stats"))
    schema = proj.master()
    spec = AlterSpec(
        "users",
        types=(("email", "VARCHAR(200)"),),
        rename=(("avatar_url", "avatar"),),
        not_null=("github_username",),
    )
    created = alter.create(proj.cfg, proj.db, "tidy users", spec)
    assert created.preserved == ("time_sessions", "daily_stats")
    assert "PRAGMA defer_foreign_keys = ON;" in created.path.read_text()

    migrations.apply(proj.cfg, proj.db, None)
    assert proj.applied()[-1] == created.name
    assert _rows(proj, "users") == users  # same values; avatar_url is now avatar
    assert [c[1] for c in proj.query("PRAGMA table_info(users)")][4] == "avatar"
    assert [c[2] for c in proj.query("PRAGMA table_info(users)")][3] == "VARCHAR(200)"
    # Undeclared types kept exactly (sqlite-utils alone writes DATETIME as REAL).
    assert [c[2] for c in proj.query("PRAGMA table_info(users)")][5] == "DATETIME"
    assert _rows(proj, "time_sessions") == sessions
    assert _rows(proj, "daily_stats") == stats
    assert proj.query("PRAGMA foreign_key_check") == []
    assert proj.query("SELECT name FROM sqlite_master WHERE name LIKE '\\_keep%' ESCAPE '\\'") == []
    assert ("index", "idx_users_github_id") in [(t, n) for t, n, *_ in proj.master()]

    migrations.rollback(proj.cfg, proj.db, None, steps=1)
    assert created.name not in proj.applied()
    assert _rows(proj, "users") == users
    assert _rows(proj, "time_sessions") == sessions
    assert _rows(proj, "daily_stats") == stats
    normal = {(t, n, " ".join(str(s).replace('"users"', "users").split())) for t, n, _, s in schema}
    after = {
        (t, n, " ".join(str(s).replace('"users"', "users").split())) for t, n, _, s in proj.master()
    }
    assert after == normal


def test_the_rows_survive_with_foreign_keys_on(proj: Project) -> None:
    """The generated up run by plain SQLite with foreign keys on, under one transaction."""
    created = alter.create(
        proj.cfg, proj.db, "drop avatar", AlterSpec("users", drop=("avatar_url",))
    )
    before = (_rows(proj, "time_sessions"), _rows(proj, "daily_stats"))
    _fk_on(proj, "BEGIN;\n" + created.path.read_text() + "\nCOMMIT;")
    assert (_rows(proj, "time_sessions"), _rows(proj, "daily_stats")) == before
    _fk_on(proj, "BEGIN;\n" + created.down_path.read_text() + "\nCOMMIT;")
    assert (_rows(proj, "time_sessions"), _rows(proj, "daily_stats")) == before
    assert proj.query("SELECT id, avatar_url FROM users ORDER BY id") == [(1, None), (2, None)]


def test_the_pair_passes_verify_and_lint(proj: Project) -> None:
    alter.create(proj.cfg, proj.db, "tidy", AlterSpec("users", rename=(("email", "mail"),)))
    alter.create(
        proj.cfg, proj.db, "pr text", AlterSpec("time_sessions", types=(("pr_number", "TEXT"),))
    )
    target = migrations.LocalMigrations(proj.cfg, None, proj.db)
    assert reports.verify_all(target).ok
    linted = reports.lint_all(target)
    assert linted.ok, [f.text() for f in linted.errors]
    assert "cascade-drop" not in {f.code for f in linted.findings}


def test_lint_still_flags_a_child_that_is_not_put_back(proj: Project) -> None:
    created = alter.create(proj.cfg, proj.db, "tidy", AlterSpec("users", drop=("avatar_url",)))
    text = created.path.read_text()
    created.path.write_text(
        text.replace(
            'INSERT OR REPLACE INTO "daily_stats" SELECT * FROM "_keep_daily_stats";\n', ""
        )
    )
    found = [
        f
        for f in reports.lint_all(migrations.LocalMigrations(proj.cfg, None, proj.db)).findings
        if f.code == "cascade-drop"
    ]
    assert len(found) == 1
    assert "daily_stats (ON DELETE CASCADE)" in found[0].message
    assert "time_sessions" not in found[0].message


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (AlterSpec("users", drop=("nope",)), "'nope'"),
        (AlterSpec("users", types=(("nope", "TEXT"),)), "'nope'"),
        (
            AlterSpec("users", types=(("email", "TEXT; DROP TABLE users"),)),
            "'TEXT; DROP TABLE users'",
        ),
        (AlterSpec("users", rename=(("email", "github_username"),)), "'github_username'"),
        (AlterSpec("nowhere", drop=("email",)), "'nowhere'"),
        (AlterSpec("users"), "users"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_value(
    proj: Project, spec: AlterSpec, named: str
) -> None:
    before = sorted(p.name for p in proj.migrations.rglob("*.sql"))
    with pytest.raises(UsageError, match=named.replace("(", r"\(")):
        alter.create(proj.cfg, proj.db, "bad", spec)
    assert sorted(p.name for p in proj.migrations.rglob("*.sql")) == before


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--type", "email"], "'email'"),
        (["--type", "email="], "'email='"),
        (["--drop", "nope"], "'nope'"),
        (["--rename", "email"], "'email'"),
    ],
)
def test_cli_bad_options_exit_2(proj: Project, cli: Runner, args: list[str], named: str) -> None:
    result = cli("d1", "migrations", "create", "worktime-db", "bad", "--alter", "users", *args)
    assert result.exit_code == 2
    assert named in result.stderr
    assert not list(proj.migrations.glob("0002_*"))


def test_cli_change_options_need_alter(cli: Runner, proj: Project) -> None:
    result = cli("d1", "migrations", "create", "worktime-db", "x", "--drop", "email")
    assert result.exit_code == 2
    assert "--drop needs --alter TABLE" in result.stderr


def test_cli_writes_the_pair(cli: Runner, proj: Project) -> None:
    result = cli(
        "d1", "migrations", "create", "worktime-db", "tidy users", "--alter", "users",
        "--rename", "avatar_url=avatar", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    assert data["name"] == "0002_tidy_users.sql"
    assert data["table"] == "users"
    assert data["preserved"] == ["time_sessions", "daily_stats"]
    assert 'RENAME TO "users"' in Path(data["path"]).read_text()
    assert "users_worktime_old" in Path(data["down_path"]).read_text()


def test_set_null_children_grandchildren_and_triggers(project: Path) -> None:
    proj = make_project(project)
    proj.write(
        "0001_tree.sql",
        "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT, touched INTEGER DEFAULT 0);\n"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id) ON DELETE SET NULL);\n"
        "CREATE TABLE g (id INTEGER PRIMARY KEY, c_id INTEGER REFERENCES c(id) ON DELETE CASCADE);\n"
        "CREATE TRIGGER p_touch AFTER UPDATE OF name ON p BEGIN\n"
        "  UPDATE p SET touched = touched + 1 WHERE id = new.id;\nEND;\n",
    )
    migrations.apply(proj.cfg, proj.db, None)
    _fk_on(
        proj,
        "INSERT INTO p VALUES (1, 'a', 0); INSERT INTO c VALUES (2, 1); INSERT INTO g VALUES (3, 2);",
    )
    created = alter.create(proj.cfg, proj.db, "p", AlterSpec("p", types=(("name", "VARCHAR(9)"),)))
    assert created.preserved == ("c", "g")
    migrations.apply(proj.cfg, proj.db, None)
    assert (_rows(proj, "c"), _rows(proj, "g")) == ([(2, 1)], [(3, 2)])
    _fk_on(proj, "UPDATE p SET name = 'b' WHERE id = 1;")
    assert _rows(proj, "p") == [(1, "b", 1)]  # the trigger came back with the table
    migrations.rollback(proj.cfg, proj.db, None, steps=1)
    assert (_rows(proj, "c"), _rows(proj, "g")) == ([(2, 1)], [(3, 2)])
    assert reports.verify_all(migrations.LocalMigrations(proj.cfg, None, proj.db)).ok


def test_not_null_with_a_default_fills_the_nulls_already_there(proj: Project) -> None:
    spec = AlterSpec("users", not_null=("email",), defaults=(("email", "none@example.com"),))
    alter.create(proj.cfg, proj.db, "email required", spec)
    migrations.apply(proj.cfg, proj.db, None)
    assert proj.query("SELECT id, email FROM users ORDER BY id") == [
        (1, "ada@example.com"),
        (2, "none@example.com"),
    ]
    assert len(_rows(proj, "time_sessions")) == len(_rows(proj, "daily_stats")) == 2
    migrations.rollback(proj.cfg, proj.db, None, steps=1)
    assert [c[3] for c in proj.query("PRAGMA table_info(users)")][3] == 0  # nullable again


@pytest.mark.wrangler
@pytest.mark.slow
def test_the_real_wrangler_applies_the_rebuild_and_keeps_the_rows(
    wrangler: str, proj: Project
) -> None:
    """workerd's D1 (wrangler --local) runs the generated file as D1 does: rows survive."""
    import os
    import subprocess

    before = [_rows(proj, t) for t in ("users", "time_sessions", "daily_stats")]
    created = alter.create(
        proj.cfg, proj.db, "tidy", AlterSpec("users", rename=(("email", "mail"),))
    )
    env = {**os.environ, "CI": "true", "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"}
    out = subprocess.run(
        [wrangler, "d1", "migrations", "apply", "worktime-db", "--local"],
        cwd=proj.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert proj.applied()[-1] == created.name
    assert [_rows(proj, t) for t in ("users", "time_sessions", "daily_stats")] == before
    assert "mail" in [c[1] for c in proj.query("PRAGMA table_info(users)")]


def test_the_kept_tables_triggers_do_not_fire_and_come_back(proj: Project) -> None:
    proj.write(
        "0002_triggers.sql",
        "CREATE TABLE audit (what TEXT);\n"
        "CREATE TRIGGER sessions_gone AFTER DELETE ON time_sessions BEGIN\n"
        "  INSERT INTO audit VALUES ('deleted ' || old.id);\nEND;\n"
        "CREATE TRIGGER sessions_count AFTER INSERT ON time_sessions BEGIN\n"
        "  UPDATE daily_stats SET session_count = session_count + 1 WHERE user_id = new.user_id;\n"
        "END;\n",
    )
    migrations.apply(proj.cfg, proj.db, None)
    stats = _rows(proj, "daily_stats")
    alter.create(proj.cfg, proj.db, "tidy", AlterSpec("users", drop=("avatar_url",)))
    migrations.apply(proj.cfg, proj.db, None)
    migrations.rollback(proj.cfg, proj.db, None, steps=1)
    assert _rows(proj, "daily_stats") == stats
    assert proj.query("SELECT * FROM audit") == []
    triggers = proj.query("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
    assert triggers == [("sessions_count",), ("sessions_gone",)]
    assert reports.verify_all(migrations.LocalMigrations(proj.cfg, None, proj.db)).ok
