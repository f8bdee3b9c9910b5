"""`migrations lint` (issue 12, part 3): one test per rule, and the cascade loss is real."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import SEED, Project, make_project
from worktime_cli import migrations
from worktime_cli.migrations import reports
from worktime_cli.migrations.lint_codes import Finding, LintError


@pytest.fixture
def proj(project: Path) -> Project:
    return make_project(project)


def _lint(proj: Project) -> list[Finding]:
    return list(reports.lint_all(migrations.LocalMigrations(proj.cfg, None, proj.db)).findings)


def _codes(proj: Project) -> list[tuple[str, str, int]]:
    return [(f.code, f.severity, f.line) for f in _lint(proj)]


PARENT_CHILD = (
    "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT);\n"
    "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id) ON DELETE CASCADE);\n"
)
NAIVE_REBUILD = (
    "PRAGMA defer_foreign_keys = ON;\n"
    "CREATE TABLE p_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n"
    "INSERT INTO p_new SELECT id, coalesce(name, '') FROM p;\n"
    "DROP TABLE p;\n"
    "ALTER TABLE p_new RENAME TO p;\n"
)


def test_the_seed_is_clean(proj: Project) -> None:
    proj.write("0001_initial_schema.sql", SEED.read_text())
    assert _lint(proj) == []


def test_cascade_drop_is_an_error_with_the_safe_pattern(proj: Project) -> None:
    proj.write("0001_pc.sql", PARENT_CHILD)
    path = proj.write("0002_rebuild.sql", NAIVE_REBUILD)
    found = [f for f in _lint(proj) if f.code == "cascade-drop"]
    assert [(f.file, f.line, f.severity) for f in found] == [(str(path), 4, "error")]
    assert "c (ON DELETE CASCADE)" in found[0].message
    assert "CREATE TABLE _keep_c AS SELECT * FROM c" in found[0].fix
    assert found[0].reference == "https://github.com/cloudflare/workers-sdk/issues/5438"


def test_the_cascade_loss_is_real(proj: Project) -> None:
    """A naive rebuild under defer_foreign_keys, foreign keys on (as always on D1): rows gone."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for statement in PARENT_CHILD.split(";\n")[:-1]:
        conn.execute(statement)
    conn.execute("INSERT INTO p VALUES (1, 'one')")
    conn.execute("INSERT INTO c VALUES (10, 1)")
    conn.execute("BEGIN")
    for statement in NAIVE_REBUILD.split(";\n")[:-1]:
        conn.execute(statement)
    conn.execute("COMMIT")
    assert conn.execute("SELECT count(*) FROM p").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM c").fetchone() == (0,)  # the child row is gone


def test_apply_stops_on_an_error_finding_unless_allowed(proj: Project) -> None:
    proj.write("0001_pc.sql", PARENT_CHILD)
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0002_rebuild.sql", NAIVE_REBUILD)
    before = proj.dump()
    with pytest.raises(LintError, match=r"0002_rebuild.sql:4: cascade-drop: ") as caught:
        migrations.apply(proj.cfg, proj.db, None)
    assert caught.value.hint == "fix them, or pass --allow cascade-drop to apply anyway"
    assert proj.dump() == before
    done = migrations.apply(
        proj.cfg, proj.db, None, allow=("cascade-drop",), allow_broken_down=True
    )
    assert done.applied == ["0002_rebuild.sql"]


def test_unknown_allow_code_is_a_usage_error(proj: Project) -> None:
    from worktime_cli.errors import UsageError

    proj.write("0001_t.sql", "CREATE TABLE t (x);\n")
    with pytest.raises(UsageError, match="unknown lint code"):
        migrations.apply(proj.cfg, proj.db, None, allow=("nope",))


def test_foreign_keys_off(proj: Project) -> None:
    proj.write("0001_off.sql", "-- x\nPRAGMA foreign_keys = OFF;\nPRAGMA foreign_keys=on;\n")
    assert _codes(proj) == [("fk-off", "error", 2)]


@pytest.mark.parametrize("sql", ["BEGIN TRANSACTION;", "COMMIT;", "SAVEPOINT a;", "RELEASE a;"])
def test_transaction_statements(proj: Project, sql: str) -> None:
    proj.write("0001_tx.sql", f"CREATE TABLE t (x);\n{sql}\n")
    assert ("transaction", "error", 2) in _codes(proj)


def test_not_null_without_default(proj: Project) -> None:
    proj.write("0001_t.sql", "CREATE TABLE t (x);\nALTER TABLE t ADD COLUMN y TEXT NOT NULL;\n")
    proj.write("0002_ok.sql", "ALTER TABLE t ADD COLUMN z TEXT NOT NULL DEFAULT '';\n")
    assert _codes(proj) == [("not-null-no-default", "warning", 2)]


def test_destructive_statements(proj: Project) -> None:
    proj.write(
        "0001_t.sql",
        "CREATE TABLE t (x, y);\nDELETE FROM t;\nUPDATE t SET x = 1;\n"
        "DELETE FROM t WHERE x = 2;\nALTER TABLE t DROP COLUMN y;\nDROP TABLE t;\n",
    )
    assert _codes(proj) == [
        ("destructive", "warning", 2),
        ("destructive", "warning", 3),
        ("destructive", "warning", 5),
        ("destructive", "warning", 6),
    ]


def test_statement_over_d1s_size_limit(proj: Project) -> None:
    values = ",".join(f"({i}, '{'x' * 20}')" for i in range(4000))
    proj.write("0001_big.sql", f"CREATE TABLE t (i, s);\nINSERT INTO t VALUES {values};\n")
    assert _codes(proj) == [("too-large", "error", 2)]


def test_table_over_d1s_column_limit(proj: Project) -> None:
    columns = ", ".join(f"c{i}" for i in range(101))
    proj.write("0001_wide.sql", f"CREATE TABLE wide ({columns});\n")
    proj.write("0002_ok.sql", f"CREATE TABLE ok ({', '.join(f'c{i}' for i in range(100))});\n")
    assert _codes(proj) == [("too-many-columns", "error", 1)]


def test_crlf_inside_a_trigger(proj: Project) -> None:
    proj.migrations.mkdir()
    (proj.migrations / "0001_tr.sql").write_bytes(
        b"CREATE TABLE t (x);\r\nCREATE TRIGGER tr AFTER INSERT ON t\r\nBEGIN\r\n"
        b"  UPDATE t SET x = 1 WHERE rowid = new.rowid;\r\nEND;\r\n"
    )
    found = [f for f in _lint(proj) if f.code == "trigger-crlf"]
    assert [(f.line, f.reference) for f in found] == [
        (2, "https://github.com/cloudflare/workers-sdk/issues/14991")
    ]


def test_lowercase_begin_in_a_trigger(proj: Project) -> None:
    proj.write(
        "0001_tr.sql",
        "CREATE TABLE t (x);\ncreate trigger tr after insert on t begin select 1; end;\n",
    )
    assert [c for c in _codes(proj) if c[0].startswith("trigger")] == [
        ("trigger-lowercase-begin", "error", 2)
    ]


def test_case_end_inside_a_trigger(proj: Project) -> None:
    proj.write(
        "0001_tr.sql",
        "CREATE TABLE t (x);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  SELECT CASE WHEN new.x < 0 THEN RAISE(ABORT, 'neg') END;\nEND;\n",
    )
    assert [c for c in _codes(proj) if c[0].startswith("trigger")] == [
        ("trigger-nested-end", "error", 2)
    ]


def test_quote_in_a_comment_of_a_multi_statement_file(proj: Project) -> None:
    proj.write("0001_c.sql", "-- it's the first table\nCREATE TABLE a (x);\nCREATE TABLE b (y);\n")
    proj.write("0002_one.sql", "-- it's alone\nCREATE TABLE c (z);\n")
    assert _codes(proj) == [("comment-quote", "warning", 1)]


def test_cli_lint_json_and_exit_code(cli, proj: Project) -> None:
    proj.write("0001_t.sql", "CREATE TABLE t (x);\nDELETE FROM t;\n")
    warned = cli("d1", "migrations", "lint")
    assert warned.exit_code == 0, warned.output
    assert "0 error(s), 1 warning(s)" in warned.stderr
    path = proj.write("0002_off.sql", "PRAGMA foreign_keys = OFF;\n")
    failed = cli("d1", "migrations", "lint", "worktime-db", "--json")
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert (data["ok"], data["errors"], data["warnings"], data["checked"]) == (False, 1, 1, 2)
    assert data["findings"][1] == {
        "code": "fk-off",
        "severity": "error",
        "file": str(path),
        "line": 1,
        "message": "PRAGMA foreign_keys = OFF has no effect on D1 (nor inside a migration's "
        "transaction): ON DELETE CASCADE still fires",
        "fix": "use PRAGMA defer_foreign_keys = ON for a rebuild, and keep child rows "
        "(see `worktime d1 migrations create --alter`)",
        "reference": "https://github.com/cloudflare/workers-sdk/issues/5438",
    }


# --- issue 19, part 7: a statement that fails in the replay is an error, and lint goes on ------

USERS = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"
    "CREATE TABLE sessions (id INTEGER PRIMARY KEY,\n"
    "  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE);\n"
)
ADD_EMAIL = "ALTER TABLE users ADD COLUMN email TEXT;\n"
# Written before 0002 added `email`: the copy no longer fits, and the DROP below it cascades.
REBUILD_USERS = (
    "PRAGMA defer_foreign_keys = ON;\n"
    "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n"
    "INSERT INTO users_new SELECT * FROM users;\n"
    "DROP TABLE users;\n"
    "ALTER TABLE users_new RENAME TO users;\n"
)
COPY_FAILS = "table users_new has 2 columns but 3 values were supplied"


def test_cli_lint_reports_a_failing_statement_and_the_cascade_after_it(cli, proj: Project) -> None:
    proj.write("0001_users.sql", USERS)
    proj.write("0002_email.sql", ADD_EMAIL)
    path = proj.write("0003_rebuild.sql", REBUILD_USERS)
    result = cli("d1", "migrations", "lint")
    assert result.exit_code == 1, result.output
    assert f"error: {path}:3: statement-fails: {COPY_FAILS}\n" in result.stderr
    assert f"error: {path}:5: cascade-drop: DROP TABLE users changes the rows of sessions" not in (
        result.stderr
    )
    assert f"error: {path}:4: cascade-drop: DROP TABLE users changes the rows of sessions" in (
        result.stderr
    )
    assert result.stderr.endswith("3 migration(s) of worktime-db: 2 error(s), 1 warning(s)\n")
    assert "✓" not in result.stderr

    data = json.loads(cli("d1", "migrations", "lint", "--json").stdout)
    assert (data["ok"], data["errors"]) == (False, 2)
    assert [(f["code"], f["severity"], f["line"]) for f in data["findings"]] == [
        ("statement-fails", "error", 3),
        ("cascade-drop", "error", 4),
        ("destructive", "warning", 4),
    ]
    assert data["findings"][0]["file"] == str(path)
    assert data["findings"][0]["message"] == COPY_FAILS


def test_the_replay_goes_on_after_a_failing_statement(proj: Project) -> None:
    """The statements after the failing one still build the schema later rules look at."""
    proj.write(
        "0001_bad.sql",
        "CREATE TABLE p (id INTEGER PRIMARY KEY);\nINSERT INTO missing VALUES (1);\n"
        "CREATE TABLE c (p_id INTEGER REFERENCES p(id) ON DELETE CASCADE);\n",
    )
    proj.write("0002_drop.sql", "DROP TABLE p;\n")
    assert _codes(proj) == [
        ("statement-fails", "error", 2),
        ("cascade-drop", "error", 1),
        ("destructive", "warning", 1),
    ]


def test_a_migration_whose_rows_break_a_foreign_key_at_commit_is_an_error(proj: Project) -> None:
    proj.write("0001_pc.sql", PARENT_CHILD)
    path = proj.write(
        "0002_orphan.sql", "PRAGMA defer_foreign_keys = ON;\nINSERT INTO c VALUES (1, 99);\n"
    )
    proj.write("0003_rebuild.sql", NAIVE_REBUILD)  # still checked on the schema 0002 leaves
    found = [(f.file, f.line, f.code) for f in _lint(proj) if f.severity == "error"]
    assert found == [
        (str(path), 2, "statement-fails"),
        (str(proj.migrations / "0003_rebuild.sql"), 4, "cascade-drop"),
    ]


def test_transaction_statements_are_not_replayed(proj: Project, tmp_path: Path) -> None:
    """D1 refuses them (the `transaction` finding); ATTACH would even create a file here."""
    proj.write("0001_t.sql", f"ATTACH '{tmp_path / 'x.db'}' AS x;\nCOMMIT;\nCREATE TABLE t (x);\n")
    assert _codes(proj) == [("transaction", "error", 1), ("transaction", "error", 2)]
    assert not (tmp_path / "x.db").exists()


def test_apply_warns_when_the_applied_history_does_not_replay(proj: Project) -> None:
    """A ground migration that fails on an empty database stops the schema rules: said so."""
    proj.write("0001_t.sql", "CREATE TABLE t (x);\n")
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0001_t.sql", "INSERT INTO nowhere VALUES (1);\n")  # edited after it was applied
    proj.write("0002_pc.sql", PARENT_CHILD)
    result = migrations.apply(proj.cfg, proj.db, None, allow_drift=True)
    assert result.applied == ["0002_pc.sql"]
    assert any("not-replayed" in w and "no such table: nowhere" in w for w in result.warnings)


def test_apply_leaves_a_failing_statement_to_the_run_but_still_sees_the_cascade_after_it(
    cli, proj: Project
) -> None:
    proj.write("0001_users.sql", USERS)
    proj.write("0002_email.sql", ADD_EMAIL)
    assert cli("d1", "migrations", "apply", "worktime-db").exit_code == 0
    path = proj.write("0003_rebuild.sql", REBUILD_USERS)
    refused = cli("d1", "migrations", "apply", "worktime-db")
    assert refused.exit_code == 1
    assert f"{path}:4: cascade-drop: DROP TABLE users" in refused.stderr
    assert "statement-fails" not in refused.stderr  # the run would stop there and say so
    assert proj.applied() == ["0001_users.sql", "0002_email.sql"]
