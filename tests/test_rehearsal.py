"""Rehearsed migrations on a copy of a database (worktime_cli.migrations.rehearsal), on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import Project, make_project
from worktime_cli import migrations
from worktime_cli.d1 import sanitize
from worktime_cli.migrations import rehearsal
from worktime_cli.migrations.plan import DriftError

USERS_COLUMNS = "id, github_user_id, github_username, email, avatar_url, created_at, last_active"

# The 12-step rebuild of `users` that forgets its children: on D1 (foreign keys always on)
# the DROP cascades to time_sessions and daily_stats.
REBUILD_USERS = f"""PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  github_user_id TEXT UNIQUE NOT NULL,
  github_username TEXT NOT NULL,
  email TEXT,
  avatar_url TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  last_active DATETIME DEFAULT CURRENT_TIMESTAMP,
  timezone TEXT NOT NULL DEFAULT 'UTC'
);
INSERT INTO users_new ({USERS_COLUMNS}) SELECT {USERS_COLUMNS} FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX idx_users_github_id ON users(github_user_id);
"""


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.seed()
    migrations.apply(p.cfg, p.db, None)
    conn = sqlite3.connect(p.path)
    for i in range(1, 4):
        conn.execute(
            "INSERT INTO users (github_user_id, github_username, email) VALUES (?, ?, ?)",
            (str(i), f"octo{i}", f"octo{i}@example.com"),
        )
        for pr in range(2):
            conn.execute(
                "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time) "
                "VALUES (?, 'acme', 'widget', ?, '2026-01-01T00:00:00Z')",
                (i, pr),
            )
    conn.commit()
    conn.close()
    return p


def _by_kind(result: rehearsal.Rehearsal) -> dict[str, list[rehearsal.Finding]]:
    found: dict[str, list[rehearsal.Finding]] = {}
    for f in result.all_findings:
        found.setdefault(f.kind, []).append(f)
    return found


def test_a_rebuild_of_a_parent_is_caught_deleting_its_children(proj: Project) -> None:
    proj.write("0002_users_timezone.sql", REBUILD_USERS)
    before = proj.dump()
    result = rehearsal.rehearse(proj.cfg, proj.db, proj.path)
    assert not result.clean
    [migration] = result.migrations
    assert migration.status == "applied" and migration.duration_ms is not None
    rows = {r.table: (r.before, r.after) for r in migration.rows}
    assert rows["users"] == (3, 3)
    assert rows["time_sessions"] == (6, 0)
    found = _by_kind(result)
    [cascade] = found["cascade-delete"]
    assert cascade.migration == "0002_users_timezone.sql"
    assert cascade.message.startswith("time_sessions lost 6 of its 6 rows")
    # Lint saw it coming too (cascade-drop), as apply would refuse it.
    assert "cascade-drop" in found["lint"][0].message
    # The rehearsed file is a copy: the database itself is untouched, the migration pending.
    assert proj.dump() == before
    assert proj.applied() == ["0001_initial_schema.sql"]
    assert result.to_json()["clean"] is False


def test_a_safe_migration_rehearses_clean_on_a_sanitized_copy(
    proj: Project, tmp_path: Path
) -> None:
    proj.write(
        "0002_users_timezone.sql", "ALTER TABLE users ADD COLUMN timezone TEXT DEFAULT 'UTC';\n"
    )
    copy = tmp_path / "sanitized.sqlite"
    sanitize.sanitize_database(proj.path, copy)
    events: list[str] = []
    result = rehearsal.rehearse(
        proj.cfg, proj.db, copy, on_event=lambda e: events.append(f"{e.kind} {e.name}")
    )
    assert result.clean, result.to_json()
    [migration] = result.migrations
    assert {r.table: (r.before, r.after) for r in migration.rows} == {
        "daily_stats": (0, 0),
        "time_sessions": (6, 6),
        "users": (3, 3),
    }
    assert events == ["start 0002_users_timezone.sql", "done 0002_users_timezone.sql"]
    assert result.size is not None and result.size.level == "ok"
    assert result.largest_row is not None and result.largest_row.level == "ok"
    data = result.to_json()
    assert data["clean"] is True and data["findings"] == []
    assert data["migrations"][0]["status"] == "applied"


def test_foreign_key_violations_are_listed_and_the_rest_not_reached(proj: Project) -> None:
    proj.write(
        "0002_orphans.sql",
        "PRAGMA defer_foreign_keys = ON;\n"
        "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time) "
        "VALUES (999, 'acme', 'widget', 1, '2026-01-01T00:00:00Z');\n",
    )
    proj.write("0003_later.sql", "CREATE TABLE later (id INTEGER PRIMARY KEY);\n")
    result = rehearsal.rehearse(proj.cfg, proj.db, proj.path)
    first, second = result.migrations
    assert (first.status, second.status) == ("failed", "not reached")
    kinds = [f.kind for f in first.findings]
    assert kinds == ["failed", "foreign-key"]
    assert first.findings[1].message.startswith(
        "1 row(s) of time_sessions reference a missing users row"
    )


def test_a_d1_limit_hit_is_its_own_kind(proj: Project) -> None:
    columns = ", ".join(f"c{i} TEXT" for i in range(101))
    proj.write("0002_wide.sql", f"CREATE TABLE wide ({columns});\n")
    result = rehearsal.rehearse(proj.cfg, proj.db, proj.path)
    [migration] = result.migrations
    assert migration.status == "failed"
    assert migration.findings[0].kind == "d1-limit"


def test_nothing_pending_is_clean_and_drift_refuses_as_apply_does(proj: Project) -> None:
    result = rehearsal.rehearse(proj.cfg, proj.db, proj.path)
    assert result.clean and result.migrations == ()
    seed = proj.migrations / "0001_initial_schema.sql"
    seed.write_text(seed.read_text() + "\n-- edited\n")
    with pytest.raises(DriftError):
        rehearsal.rehearse(proj.cfg, proj.db, proj.path)


def test_a_statement_over_d1s_size_limit_is_a_finding_and_nothing_runs(proj: Project) -> None:
    values = ", ".join(["('" + "x" * 60 + "')"] * 2000)
    proj.write(
        "0002_big.sql", f"CREATE TABLE big (v TEXT);\nINSERT INTO big (v) VALUES {values};\n"
    )
    result = rehearsal.rehearse(proj.cfg, proj.db, proj.path)
    assert result.migrations == ()
    [finding] = result.all_findings
    assert finding.kind == "d1-limit" and "100,000 bytes" in finding.message


def test_rows_a_migration_deletes_itself_are_a_warning_not_a_cascade(proj: Project) -> None:
    proj.write("0002_prune.sql", "DELETE FROM time_sessions WHERE pr_number = 0;\n")
    result = rehearsal.rehearse(proj.cfg, proj.db, proj.path)
    assert result.clean
    assert any("time_sessions lost 3 of its 6 rows" in w for w in result.to_json()["warnings"])
