"""The migration engine, called directly: discovery, apply, rollback, drift, atomicity."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.support.migrations import SEED, Project, make_project, seeded, table
from worktime_cli import d1, migrations
from worktime_cli.d1 import connection, snapshots
from worktime_cli.errors import NotFoundError, UsageError, WorktimeError
from worktime_cli.migrations import DriftError, MigrationError


@pytest.fixture
def proj(project: Path) -> Project:
    return make_project(project)


# --- discovery and order (wrangler 4's rules) -----------------------------------------------

ORDER_CASES = [
    # (files in the folder, expected apply order)
    (["0002_b.sql", "0001_a.sql"], ["0001_a.sql", "0002_b.sql"]),
    # numeric, not lexicographic: 10 after 9 even without zero padding
    (
        ["10_ten.sql", "9_nine.sql", "0011_eleven.sql"],
        ["9_nine.sql", "10_ten.sql", "0011_eleven.sql"],
    ),
    # numbered before unnumbered, unnumbered by name
    (["zeta.sql", "alpha.sql", "0001_x.sql"], ["0001_x.sql", "alpha.sql", "zeta.sql"]),
    # same number: by name
    (["0002_b.sql", "0002_a.sql", "2_c.sql"], ["0002_a.sql", "0002_b.sql", "2_c.sql"]),
    # the number is parseInt of the part before the first "_"
    (
        ["0003-dash.sql", "0002_x_y.sql", "12abc_z.sql"],
        ["0002_x_y.sql", "0003-dash.sql", "12abc_z.sql"],
    ),
    # only *.sql, no dotfiles
    (
        ["0001_a.sql", "0002_b.SQL", "notes.txt", ".0000_hidden.sql", "0003_c.sql.bak"],
        ["0001_a.sql"],
    ),
]


@pytest.mark.parametrize(("files", "expected"), ORDER_CASES)
def test_discover_order(tmp_path: Path, files: list[str], expected: list[str]) -> None:
    for name in files:
        (tmp_path / name).write_text("SELECT 1;\n")
    found = migrations.discover(tmp_path)
    assert [m.name for m in found] == expected


def test_discover_skips_folders_and_does_not_recurse(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0002_dir.sql").mkdir()
    (tmp_path / "down").mkdir()
    (tmp_path / "down" / "0001_a.sql").write_text("SELECT 2;")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "0003_b.sql").write_text("SELECT 3;")
    [only] = migrations.discover(tmp_path)
    assert only.name == "0001_a.sql"
    assert only.number == 1
    assert only.path == tmp_path / "0001_a.sql"
    assert only.down_path == tmp_path / "down" / "0001_a.sql"
    assert only.has_down


def test_discover_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no migrations folder"):
        migrations.discover(tmp_path / "nope")
    assert migrations.discover(tmp_path / "nope", missing_ok=True) == []


@pytest.mark.parametrize(
    ("name", "number"),
    [("0001_a.sql", 1), ("42.sql", 42), ("abc_1.sql", None), ("_1.sql", None), ("007x_y.sql", 7)],
)
def test_migration_number(name: str, number: int | None) -> None:
    assert migrations.migration_number(name) == number


HEADER = re.compile(r"-- Migration number: (\d{4}) \t \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n")


def test_create_numbering_and_header(proj: Project) -> None:
    created = migrations.create(proj.cfg, proj.db, "add notes")
    up, down = created.path, created.down_path
    assert created.name == "0001_add_notes.sql"
    assert up == proj.migrations / "0001_add_notes.sql"
    assert down == proj.migrations / "down" / "0001_add_notes.sql"
    match = HEADER.fullmatch(up.read_text())
    assert match and match.group(1) == "0001"
    assert down.read_text().startswith("-- Rollback of 0001_add_notes.sql")
    proj.write("0009_manual.sql", "SELECT 1;")
    proj.write("readme.sql", "SELECT 1;")  # unnumbered: ignored for numbering
    up2 = migrations.create(proj.cfg, proj.db, "two words here").path
    assert up2.name == "0010_two_words_here.sql"


@pytest.mark.parametrize(
    ("message", "slug"),
    [
        ("Add Notes!", "add_notes"),
        ("a/b", "a_b"),  # a path separator can never leave the folder
        ("a\\b", "a_b"),
        ("  drop -- old  table; ", "drop_old_table"),
        ("café ünïcode", "caf_n_code"),
        ("v2.1 users", "v2_1_users"),
    ],
)
def test_create_slugs_names(proj: Project, message: str, slug: str) -> None:
    """Issue 10 part 4: names are `[a-z0-9_]` (no `0003_!!!.sql`)."""
    created = migrations.create(proj.cfg, proj.db, message)
    assert created.name == f"0001_{slug}.sql"
    assert re.fullmatch(r"[0-9]{4}_[a-z0-9_]+\.sql", created.name)
    assert created.path.parent == proj.migrations


@pytest.mark.parametrize("message", ["!!!", "  ", "---", "..."])
def test_create_refuses_an_empty_slug_as_usage_error(proj: Project, message: str) -> None:
    with pytest.raises(UsageError, match="has no letters or digits"):
        migrations.create(proj.cfg, proj.db, message)
    assert not proj.migrations.exists() or list(proj.migrations.iterdir()) == []


def test_checksum_ignores_bom_and_crlf() -> None:
    assert migrations.checksum(b"\xef\xbb\xbfA;\r\nB;\n") == migrations.checksum(b"A;\nB;\n")
    assert migrations.checksum(b"A;\n") != migrations.checksum(b"A; \n")


# --- apply / rollback ------------------------------------------------------------------------


def test_status_is_read_only(proj: Project) -> None:
    proj.seed()
    st_ = migrations.status(proj.cfg, proj.db, None)
    assert not proj.path.exists()
    assert [(m.name, m.state) for m in st_.migrations] == [("0001_initial_schema.sql", "pending")]
    d1.connect(proj.path, create=True).close()
    migrations.status(proj.cfg, proj.db, None)
    assert proj.query("SELECT name FROM sqlite_master") == []


def test_apply_seed_then_nothing_pending(proj: Project) -> None:
    proj.seed()
    result = migrations.apply(proj.cfg, proj.db, None)
    assert result.applied == ["0001_initial_schema.sql"]
    assert result.warnings == ()  # the seed's trailing PRAGMA foreign_keys = ON is fine
    assert result.snapshot is None  # there was no database to snapshot
    assert proj.applied() == ["0001_initial_schema.sql"]
    tables = {r[0] for r in proj.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "users",
        "time_sessions",
        "daily_stats",
        "d1_migrations",
        "d1_migrations_worktime",
    } <= tables
    again = migrations.apply(proj.cfg, proj.db, None)
    assert again.migrations == ()
    assert [m.state for m in migrations.status(proj.cfg, proj.db, None).migrations] == ["applied"]


def test_tracking_table_has_wranglers_ddl(proj: Project) -> None:
    proj.seed()
    migrations.apply(proj.cfg, proj.db, None)
    [(sql,)] = proj.query("SELECT sql FROM sqlite_master WHERE name = 'd1_migrations'")
    assert sql == (
        "CREATE TABLE d1_migrations(\n\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "\t\tname       TEXT UNIQUE,\n\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n)"
    )


def test_apply_rollback_apply_identical_schema(proj: Project) -> None:
    proj.seed()
    for n in (2, 3):
        proj.write(f"000{n}_t{n}.sql", *table(n))
    migrations.apply(proj.cfg, proj.db, None)
    first = proj.master()
    result = migrations.rollback(proj.cfg, proj.db, None, all=True)
    assert result.rolled_back == ["0003_t3.sql", "0002_t2.sql", "0001_initial_schema.sql"]
    assert proj.master() == []
    assert proj.applied() == []
    migrations.apply(proj.cfg, proj.db, None)
    assert proj.master() == first


def test_apply_to_and_rollback_to_and_steps(proj: Project) -> None:
    for n in (1, 2, 3, 4):
        proj.write(f"000{n}_t{n}.sql", *table(n))
    migrations.apply(proj.cfg, proj.db, None, to="0002_t2")
    assert proj.applied() == ["0001_t1.sql", "0002_t2.sql"]
    migrations.apply(proj.cfg, proj.db, None)
    migrations.rollback(proj.cfg, proj.db, None, steps=2)
    assert proj.applied() == ["0001_t1.sql", "0002_t2.sql"]
    migrations.rollback(proj.cfg, proj.db, None, to="0001_t1.sql")
    assert proj.applied() == ["0001_t1.sql"]
    migrations.rollback(proj.cfg, proj.db, None)
    assert proj.applied() == []
    with pytest.raises(NotFoundError):
        migrations.apply(proj.cfg, proj.db, None, to="0009_nope")


def test_failing_migration_leaves_no_trace_and_names_the_line(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    conn = d1.connect(proj.path)
    conn.execute("INSERT INTO t1 (v) VALUES ('kept')")
    conn.close()
    proj.write("0002_ok.sql", "CREATE TABLE ok (id INTEGER PRIMARY KEY);\n")
    proj.write(
        "0003_bad.sql",
        "-- a comment\nINSERT INTO t1 (v) VALUES ('lost');\nCREATE TABLE t2 (x);\n\n"
        "INSERT INTO\n  missing_table VALUES (1);\nCREATE TABLE never (x);\n",
    )
    with pytest.raises(MigrationError) as caught:
        migrations.apply(proj.cfg, proj.db, None)
    message = caught.value.message
    path = proj.migrations / "0003_bad.sql"
    assert message == (
        f"migration 0003_bad.sql failed: {path}:5: no such table: missing_table "
        "(in: INSERT INTO missing_table VALUES (1);)"
    )
    result = caught.value.result
    assert isinstance(result, migrations.ApplyResult)
    assert [(m.name, m.status) for m in result.migrations] == [
        ("0002_ok.sql", "applied"),
        ("0003_bad.sql", "failed"),
    ]
    # 0002 stays applied (as wrangler); 0003 left nothing behind.
    assert proj.applied() == ["0001_t1.sql", "0002_ok.sql"]
    assert proj.query("SELECT name FROM sqlite_master WHERE name IN ('t2', 'never')") == []
    assert proj.query("SELECT v FROM t1") == [("kept",)]


def test_failing_migration_alone_is_byte_for_byte(proj: Project) -> None:
    proj.seed()
    migrations.apply(proj.cfg, proj.db, None)
    before = proj.dump()
    proj.write(
        "0002_bad.sql", "ALTER TABLE users ADD COLUMN notes TEXT;\nSELECT nope FROM users;\n"
    )
    with pytest.raises(MigrationError, match=r"0002_bad.sql:2: no such column: nope"):
        migrations.apply(proj.cfg, proj.db, None)
    assert proj.dump() == before


def test_foreign_key_check_before_commit(proj: Project) -> None:
    proj.seed()
    proj.write(
        "0002_orphans.sql",
        "PRAGMA defer_foreign_keys = ON;\n"
        "INSERT INTO time_sessions (user_id, repo_owner, repo_name, pr_number, start_time) "
        "VALUES (99, 'o', 'r', 1, '2024-01-01');\n",
    )
    with pytest.raises(MigrationError, match="foreign key violation"):
        migrations.apply(proj.cfg, proj.db, None)
    assert proj.applied() == ["0001_initial_schema.sql"]
    assert proj.query("SELECT count(*) FROM time_sessions") == [(0,)]


def test_defer_foreign_keys_table_rebuild_works(proj: Project) -> None:
    proj.write(
        "0001_parent_child.sql",
        "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT);\n"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER NOT NULL REFERENCES p(id));\n"
        "INSERT INTO p VALUES (1, 'one');\nINSERT INTO c VALUES (10, 1);\n",
    )
    migrations.apply(proj.cfg, proj.db, None)
    rebuild = (
        "CREATE TABLE p_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
        "INSERT INTO p_new SELECT id, name FROM p;\n"
        "DROP TABLE p;\n"
        "ALTER TABLE p_new RENAME TO p;\n"
    )
    # Without deferral the DROP of a referenced parent fails (and leaves nothing behind) …
    proj.write("0002_rebuild_p.sql", rebuild)
    with pytest.raises(
        MigrationError, match=r"0002_rebuild_p.sql:3: FOREIGN KEY constraint failed"
    ):
        migrations.apply(proj.cfg, proj.db, None)
    # … with PRAGMA defer_foreign_keys = ON it works, and the check at the end passes.
    proj.write("0002_rebuild_p.sql", "PRAGMA defer_foreign_keys = ON;\n" + rebuild)
    result = migrations.apply(proj.cfg, proj.db, None)
    # Only lint's warning about the DROP (no ON DELETE action: no cascade-drop error).
    assert [w.split(": ")[1] for w in result.warnings] == ["destructive"]
    assert proj.query("SELECT c.id, p.name FROM c JOIN p ON p.id = c.p_id") == [(10, "one")]


def test_foreign_keys_off_warns(proj: Project) -> None:
    proj.seed()
    path = proj.write(
        "0002_off.sql",
        "-- rebuild\nPRAGMA foreign_keys = OFF;\nSELECT 1;\nPRAGMA foreign_keys=ON;\n",
    )
    # An error-level lint finding (fk-off): refused unless allowed, then a warning.
    with pytest.raises(WorktimeError, match=rf"{re.escape(str(path))}:2: fk-off: "):
        migrations.apply(proj.cfg, proj.db, None)
    result = migrations.apply(proj.cfg, proj.db, None, allow=("fk-off",))
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{path}:2: PRAGMA foreign_keys = OFF has no effect here")
    assert result.applied == ["0001_initial_schema.sql", "0002_off.sql"]


def test_dry_run_changes_nothing(proj: Project) -> None:
    proj.seed()
    result = migrations.apply(proj.cfg, proj.db, None, dry_run=True)
    assert [(m.name, m.sql) for m in result.migrations] == [
        ("0001_initial_schema.sql", SEED.read_text())
    ]
    assert not proj.path.exists()
    migrations.apply(proj.cfg, proj.db, None)
    before = proj.dump()
    dry = migrations.rollback(proj.cfg, proj.db, None, dry_run=True)
    assert [(m.name, m.source) for m in dry.migrations] == [("0001_initial_schema.sql", "file")]
    assert proj.dump() == before
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []


def test_drift_stops_apply_unless_allowed(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    # Line endings and a BOM are not drift.
    (proj.migrations / "0001_t1.sql").write_bytes(
        b"\xef\xbb\xbf" + table(1)[0].replace("\n", "\r\n").encode()
    )
    assert [m.state for m in migrations.status(proj.cfg, proj.db, None).migrations] == ["applied"]
    proj.write("0001_t1.sql", table(1)[0] + "-- edited\n")
    proj.write("0002_t2.sql", *table(2))
    assert [m.state for m in migrations.status(proj.cfg, proj.db, None).migrations] == [
        "drifted",
        "pending",
    ]
    with pytest.raises(DriftError, match=r"0001_t1\.sql"):
        migrations.apply(proj.cfg, proj.db, None)
    assert proj.applied() == ["0001_t1.sql"]
    result = migrations.apply(proj.cfg, proj.db, None, allow_drift=True)
    assert result.applied == ["0002_t2.sql"]
    assert any("0001_t1.sql" in w for w in result.warnings)


def test_missing_file_and_rollback_from_captured_down_sql(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    proj.write("0002_t2.sql", *table(2))
    migrations.apply(proj.cfg, proj.db, None)
    # Switch branches: both files of 0002 are gone.
    (proj.migrations / "0002_t2.sql").unlink()
    (proj.migrations / "down" / "0002_t2.sql").unlink()
    status = migrations.status(proj.cfg, proj.db, None)
    assert [(m.name, m.state) for m in status.migrations] == [
        ("0001_t1.sql", "applied"),
        ("0002_t2.sql", "missing"),
    ]
    result = migrations.rollback(proj.cfg, proj.db, None)
    assert [(m.name, m.status, m.source) for m in result.migrations] == [
        ("0002_t2.sql", "rolled back", "captured")
    ]
    assert proj.query("SELECT name FROM sqlite_master WHERE name = 't2'") == []


def test_out_of_order_refused_unless_allowed(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    proj.write("0003_t3.sql", *table(3))
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0002_t2.sql", *table(2))  # merged in from another branch
    [late] = [m for m in migrations.status(proj.cfg, proj.db, None).migrations if m.out_of_order]
    assert late.name == "0002_t2.sql"
    with pytest.raises(WorktimeError, match=r"sort before the newest applied one: 0002_t2\.sql"):
        migrations.apply(proj.cfg, proj.db, None)
    assert migrations.apply(proj.cfg, proj.db, None, allow_out_of_order=True).applied == [
        "0002_t2.sql"
    ]


def test_irreversible_refused_before_anything_changes(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    proj.write("0002_t2.sql", seeded(2))  # no down file, an INSERT: not derivable
    proj.write("0003_t3.sql", seeded(3), "-- only a comment\n")  # an empty down file
    proj.write("0004_t4.sql", *table(4))
    migrations.apply(proj.cfg, proj.db, None)
    before = proj.dump()
    with pytest.raises(
        WorktimeError, match=r"cannot roll back: 0003_t3.sql, 0002_t2.sql have no down SQL"
    ) as caught:
        migrations.rollback(proj.cfg, proj.db, None, all=True)
    assert "nothing changed" in caught.value.message
    # The statement that blocks the derivation is named, file:line.
    assert f"{proj.migrations / '0002_t2.sql'}:2: INSERT INTO t2" in caught.value.message
    assert proj.dump() == before
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []


def test_unverified_when_applied_by_another_tool(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    proj.write("0002_t2.sql", *table(2))
    conn = d1.connect(proj.path, create=True)
    conn.execute(migrations.tracking_ddl("d1_migrations"))
    conn.execute("CREATE TABLE t1 (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO d1_migrations (name) VALUES ('0001_t1.sql')")
    conn.close()
    assert [m.state for m in migrations.status(proj.cfg, proj.db, None).migrations] == [
        "unverified",
        "pending",
    ]
    assert migrations.apply(proj.cfg, proj.db, None).applied == ["0002_t2.sql"]


def test_mark_applied(proj: Project) -> None:
    proj.seed()
    file = migrations.mark_applied(proj.cfg, proj.db, None, "0001_initial_schema")
    assert file.name == "0001_initial_schema.sql"
    assert proj.applied() == ["0001_initial_schema.sql"]
    assert proj.master() == []  # no SQL was run
    assert [m.state for m in migrations.status(proj.cfg, proj.db, None).migrations] == ["applied"]
    with pytest.raises(WorktimeError, match="already applied"):
        migrations.mark_applied(proj.cfg, proj.db, None, "0001_initial_schema.sql")
    with pytest.raises(NotFoundError):
        migrations.mark_applied(proj.cfg, proj.db, None, "0002_nope")


def test_custom_migrations_table(project: Path) -> None:
    (project / "wrangler.toml").write_text(
        '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "x"\nmigrations_table = "my migrations"\n'
    )
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (x);\n")
    from worktime_cli.project import config

    cfg = config.load()
    db = cfg.d1("x")
    migrations.apply(cfg, db, None)
    conn = d1.connect(d1.database_path(cfg, db, None))
    assert conn.execute('SELECT name FROM "my migrations"').fetchall() == [("0001_a.sql",)]
    assert migrations.schema_of(conn, db.migrations_table) == [
        ("table", "a", "a", "CREATE TABLE a (x)")
    ]
    conn.close()


def test_expected_schema_matches_applied(proj: Project) -> None:
    proj.seed()
    proj.write("0002_t2.sql", *table(2))
    migrations.apply(proj.cfg, proj.db, None)
    conn = d1.connect(proj.path)
    try:
        actual = migrations.schema_of(conn)
    finally:
        conn.close()
    expected = migrations.expected_schema(proj.cfg, proj.db)
    assert actual == expected
    assert ("index", "t2_v", "t2", "CREATE INDEX t2_v ON t2(v)") in expected
    assert not any(name.startswith(("d1_migrations", "sqlite_")) for _, name, _, _ in expected)


# --- snapshots taken by apply/rollback --------------------------------------------------------


def test_apply_and_rollback_snapshot_before_changing(proj: Project) -> None:
    proj.seed()
    migrations.apply(proj.cfg, proj.db, None)
    before = proj.dump()
    proj.write("0002_t2.sql", *table(2))
    result = migrations.apply(proj.cfg, proj.db, None)
    assert result.snapshot is not None and result.snapshot.operation == "apply"
    # Nothing to do: no snapshot.
    assert migrations.apply(proj.cfg, proj.db, None).snapshot is None
    conn = sqlite3.connect(result.snapshot.path)
    assert list(conn.iterdump()) == before
    conn.close()


# --- concurrency and crashes -----------------------------------------------------------------

_APPLY_SCRIPT = """
import sys
from worktime_cli import migrations
from worktime_cli.project import config
cfg = config.load()
def show(event):
    print(event.kind, event.name, flush=True)
try:
    migrations.apply(cfg, cfg.d1("worktime-db"), None, on_event=show)
except Exception as exc:
    print("error", type(exc).__name__, exc, flush=True)
"""


def test_two_processes_apply_each_migration_once(proj: Project) -> None:
    for n in range(1, 31):
        up, down = table(n)
        # Some rows make each transaction take a little while, so the runs overlap.
        up += f"INSERT INTO t{n} (v) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000) SELECT 'x' || i FROM c;\n"
        proj.write(f"{n:04d}_t{n}.sql", up, down)
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPLY_SCRIPT], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert not any("error" in out for out in outputs), outputs
    names = proj.applied()
    assert names == [f"{n:04d}_t{n}.sql" for n in range(1, 31)]
    assert proj.query("SELECT count(*) FROM d1_migrations_worktime") == [(30,)]
    done = [line for out in outputs for line in out.splitlines() if line.startswith("done")]
    assert sorted(done) == sorted(f"done {n}" for n in names)  # each applied by exactly one run


def test_locked_error_when_another_writer_holds_the_lock(
    proj: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj.write("0001_t1.sql", *table(1))
    d1.connect(proj.path, create=True).close()
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(proj.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(MigrationError, match="locked"):
            migrations.apply(proj.cfg, proj.db, None)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert migrations.status(proj.cfg, proj.db, None).pending


@pytest.mark.slow
def test_sigkill_mid_migration_is_all_or_nothing(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    proj.write(
        "0002_long.sql",
        "CREATE TABLE big (i INTEGER, pad TEXT);\n"
        "INSERT INTO big WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000000) "
        "SELECT i, hex(randomblob(32)) FROM c;\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _APPLY_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("start 0002_long.sql"):
            break
    # Wait until the long INSERT is writing (the WAL grows), then kill without warning.
    wal = proj.path.with_name(proj.path.name + "-wal")
    while proc.poll() is None and (not wal.exists() or wal.stat().st_size < 4_000_000):
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = d1.connect(proj.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        applied = [r[0] for r in conn.execute("SELECT name FROM d1_migrations ORDER BY id")]
        has_big = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone()[
            0
        ]
        if applied == ["0001_t1.sql", "0002_long.sql"]:
            assert conn.execute("SELECT count(*) FROM big").fetchone() == (3000000,)
        else:
            assert applied == ["0001_t1.sql"]
            assert has_big == 0
    finally:
        conn.close()


# --- a random walk of applies and rollbacks ---------------------------------------------------

N_MIGRATIONS = 5


class ApplyRollbackMachine(RuleBasedStateMachine):
    """Any sequence of applies and rollbacks leaves the schema a fresh apply of the prefix gives."""

    def __init__(self) -> None:
        super().__init__()
        self.applied = 0

    @initialize()
    def setup(self) -> None:
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.proj = make_project(Path(self.tmp.name))
        self.proj.seed()
        for n in range(2, N_MIGRATIONS + 1):
            up, down = table(n)
            if n == 3:  # one migration that alters an existing table and moves data
                up = "ALTER TABLE users ADD COLUMN notes TEXT;\nUPDATE users SET notes = 'n';\n"
                down = "ALTER TABLE users DROP COLUMN notes;\n"
            self.proj.write(f"000{n}_m{n}.sql", up, down)
        self.files = [m.name for m in migrations.discover(self.proj.migrations)]
        self.expected: dict[int, list[tuple[object, ...]]] = {}

    def teardown(self) -> None:
        self.tmp.cleanup()

    @rule(k=st.integers(min_value=1, max_value=N_MIGRATIONS))
    def apply_to(self, k: int) -> None:
        migrations.apply(self.proj.cfg, self.proj.db, None, to=self.files[k - 1])
        self.applied = max(self.applied, k)

    @rule(steps=st.integers(min_value=1, max_value=N_MIGRATIONS))
    def rollback(self, steps: int) -> None:
        if self.applied == 0:
            return
        migrations.rollback(self.proj.cfg, self.proj.db, None, steps=steps)
        self.applied = max(0, self.applied - steps)

    @invariant()
    def schema_matches_fresh_prefix(self) -> None:
        if not hasattr(self, "proj"):
            return
        if self.applied == 0:
            actual: list[tuple[object, ...]] = (
                [] if not self.proj.path.exists() else self.proj.master()
            )
            assert actual == []
            return
        conn = d1.connect(self.proj.path)
        try:
            actual_schema = migrations.schema_of(conn)
        finally:
            conn.close()
        expected = migrations.expected_schema(
            self.proj.cfg, self.proj.db, upto=self.files[self.applied - 1]
        )
        assert actual_schema == expected
        assert self.proj.applied() == self.files[: self.applied]


ApplyRollbackMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)
)
TestApplyRollbackMachine = ApplyRollbackMachine.TestCase


# --- issue 10 part 4: regressions -------------------------------------------------------------


def test_a_down_file_of_comments_is_no_down_sql_in_list_and_rollback(proj: Project) -> None:
    """`list` said `down: yes` while `rollback` said irreversible."""
    proj.write("0001_t1.sql", seeded(1), "-- TODO: drop t1\n/* later */\n")
    [pending] = migrations.status(proj.cfg, proj.db, None).migrations
    assert (pending.state, pending.has_down) == ("pending", False)
    migrations.apply(proj.cfg, proj.db, None)
    [applied] = migrations.status(proj.cfg, proj.db, None).migrations
    assert (applied.state, applied.has_down) == ("applied", False)
    with pytest.raises(WorktimeError, match=r"^cannot roll back: 0001_t1.sql has no down SQL"):
        migrations.rollback(proj.cfg, proj.db, None)
    # The copy captured at apply time is the same comments: still no down SQL once the file goes.
    (proj.migrations / "down" / "0001_t1.sql").unlink()
    [missing_down] = migrations.status(proj.cfg, proj.db, None).migrations
    assert missing_down.has_down is False
    with pytest.raises(WorktimeError, match="has no down SQL"):
        migrations.rollback(proj.cfg, proj.db, None)
    assert proj.applied() == ["0001_t1.sql"]


def test_apply_refuses_a_migration_without_statements_unless_allowed(proj: Project) -> None:
    """It was recorded as applied silently."""
    proj.write("0001_t1.sql", *table(1))
    created = migrations.create(proj.cfg, proj.db, "forgot to write it")  # a header only
    with pytest.raises(WorktimeError) as caught:
        migrations.apply(proj.cfg, proj.db, None)
    assert caught.value.message == (
        "migration(s) with no SQL statement: 0002_forgot_to_write_it.sql; nothing applied "
        "(write the SQL, or pass --allow-empty to record them as applied anyway)"
    )
    assert not proj.path.exists()  # refused before anything, 0001 included
    result = migrations.apply(proj.cfg, proj.db, None, allow_empty=True)
    assert result.applied == ["0001_t1.sql", created.name]
    assert f"{created.name} has no SQL statement: recorded as applied (--allow-empty)" in (
        result.warnings
    )


def test_failed_run_that_changed_nothing_keeps_no_snapshot(proj: Project) -> None:
    """The newest snapshot equalled the current state, so the suggested restore did nothing."""
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    first = snapshots.list_snapshots(proj.cfg, proj.db, None)
    proj.write("0002_bad.sql", "INSERT INTO nope VALUES (1);\n")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(proj.cfg, proj.db, None)
    assert caught.value.result.snapshot is None
    assert caught.value.result.to_json()["snapshot"] is None
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == first
    # Rollback whose first step fails: no snapshot either.
    (proj.migrations / "0002_bad.sql").unlink()
    proj.write("0001_t1.sql", table(1)[0], "DROP TABLE nope;\n")
    with pytest.raises(MigrationError) as caught:
        migrations.rollback(proj.cfg, proj.db, None)
    assert caught.value.result.snapshot is None
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == first


def test_failed_run_after_a_change_keeps_its_snapshot(proj: Project) -> None:
    proj.write("0001_t1.sql", *table(1))
    migrations.apply(proj.cfg, proj.db, None)
    proj.write("0002_t2.sql", *table(2))
    proj.write("0003_bad.sql", "INSERT INTO nope VALUES (1);\n")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(proj.cfg, proj.db, None)
    snapshot = caught.value.result.snapshot
    assert snapshot is not None and snapshot.path.is_file()  # 0002 went in: restorable
    assert proj.applied() == ["0001_t1.sql", "0002_t2.sql"]


def test_one_path_builder_for_down_files(tmp_path: Path) -> None:
    """The remote hint said `down/0001_x.sql.sql`."""
    assert migrations.down_path(tmp_path, "0001_x.sql") == tmp_path / "down" / "0001_x.sql"
    [found] = migrations.discover(_touch(tmp_path / "0001_x.sql"))
    assert found.down_path == migrations.down_path(tmp_path, "0001_x.sql")


def _touch(path: Path) -> Path:
    path.write_text("SELECT 1;\n")
    return path.parent


def test_rollback_option_conflicts_are_usage_errors(proj: Project) -> None:
    with pytest.raises(UsageError, match="give only one of --steps, --to and --all"):
        migrations.rollback(proj.cfg, proj.db, None, steps=1, all=True)
