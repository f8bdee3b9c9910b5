"""`migrations_pattern` (wrangler >= 4.98), wrangler 4.164's order and its symlink rule.

The rules are workers-sdk's (workers-utils `d1-migrations.ts`, wrangler
`d1/migrations/helpers.ts`, minimatch 5.1.9 as wrangler 4.164 bundles it); the interop tests in
tests/test_migrations_pattern_interop.py check the same layouts against the real wrangler.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import DATABASE_ID, Project, seeded, table
from worktime_cli import migrations
from worktime_cli.dev import doctor
from worktime_cli.errors import ConfigError, UsageError, WorktimeError
from worktime_cli.migrations import files, reports
from worktime_cli.migrations.local import LocalMigrations
from worktime_cli.migrations.pattern import Glob, compare_paths, parse_int
from worktime_cli.project.config import D1Binding

DRIZZLE = "migrations/*/migration.sql"
EVERYTHING = "migrations/**/*.sql"


def config_with(pattern: str | None, migrations_dir: str | None = "migrations") -> str:
    lines = [
        'name = "worktime-backend"',
        "",
        "[[d1_databases]]",
        'binding = "DB"',
        'database_name = "worktime-db"',
        f'database_id = "{DATABASE_ID}"',
    ]
    if migrations_dir is not None:
        lines.append(f'migrations_dir = "{migrations_dir}"')
    if pattern is not None:
        lines.append(f'migrations_pattern = "{pattern}"')
    return "\n".join(lines) + "\n"


def patterned(
    root: Path, pattern: str | None, migrations_dir: str | None = "migrations"
) -> Project:
    (root / "wrangler.toml").write_text(config_with(pattern, migrations_dir), encoding="utf-8")
    return Project(root)


def put(root: Path, relative: str, text: str = "SELECT 1;\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(p: Project) -> list[str]:
    return [m.name for m in migrations.discover(files.layout(p.cfg, p.db))]


# --- the config ------------------------------------------------------------------------------


def test_the_binding_reads_migrations_pattern(project: Path) -> None:
    p = patterned(project, "./migrations/*/migration.sql")
    assert p.db.migrations_pattern == "./migrations/*/migration.sql"
    assert p.db.migrations_glob() == "*/migration.sql"
    assert files.layout(p.cfg, p.db).pattern == DRIZZLE
    assert patterned(project, None).db.migrations_glob() is None


def test_a_pattern_outside_migrations_dir_is_wranglers_error(project: Path) -> None:
    p = patterned(project, "schema/*.sql")
    with pytest.raises(ConfigError) as caught:
        migrations.discover(files.layout(p.cfg, p.db))
    assert caught.value.message == (
        'The configured `migrations_pattern: "schema/*.sql"` in your wrangler.toml file must '
        'start with `migrations/` to match `"migrations_dir": "migrations"`.\n\nEither change '
        "`migrations_pattern` so it starts with `migrations/` (for example, "
        '`"migrations/*.sql"`), or change `migrations_dir` to match the start of your pattern.'
    )
    # Like wrangler, only the migration commands refuse it: the config still loads.
    assert p.db.database_name == "worktime-db"


def test_a_pattern_without_migrations_dir_is_wranglers_error(project: Path) -> None:
    p = patterned(project, DRIZZLE, migrations_dir=None)
    with pytest.raises(ConfigError, match=r"have not set `migrations_dir` for this D1 binding"):
        files.layout(p.cfg, p.db)


def test_a_pattern_of_another_type_is_a_config_error(project: Path) -> None:
    (project / "wrangler.toml").write_text(
        config_with(None) + "migrations_pattern = 3\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"migrations_pattern must be a non-empty string"):
        _ = Project(project).cfg


# --- the order (compareMigrationPaths) and parseInt ------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2_b.sql", "10_c.sql"),  # by number, not by text
        ("0001_z.sql", "2_a.sql"),
        ("9_x.sql", "alpha.sql"),  # numbered before unnumbered
        ("alpha.sql", "beta.sql"),  # unnumbered: by text
        ("0001_a.sql", "1_b.sql"),  # same number: by text
        ("1_a/2_x.sql", "1_a/10_y.sql"),  # folder level by folder level
        ("2_a/migration.sql", "10_a/migration.sql"),
        ("1_a", "1_a/migration.sql"),  # the shorter path first
        ("-1_neg.sql", "0_zero.sql"),  # parseInt takes a sign
        ("\U0001f600.sql", "\uff5a.sql"),  # UTF-16 code units (D83D < FF5A), not code points
    ],
)
def test_compare_paths_is_wranglers(a: str, b: str) -> None:
    assert compare_paths(a, b) < 0 < compare_paths(b, a)
    assert sorted([b, a], key=files.sort_key) == [a, b]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0001", 1.0),
        (" 12abc", 12.0),
        ("+7", 7.0),
        ("-0", 0.0),
        ("abc", None),
        ("\u0663", None),  # an Arabic-Indic digit is no digit to parseInt
        ("9" * 400, None),  # Infinity: not finite, so unnumbered
    ],
)
def test_parse_int_is_javascripts(text: str, value: float | None) -> None:
    assert parse_int(text) == value


# --- the glob (minimatch 5, dot: false) ------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "partial", "hit"),
    [
        ("*.sql", "0001_a.sql", False, True),
        ("*.sql", ".0001_a.sql", False, False),  # dotfiles excluded
        ("*.sql", "down", True, False),  # the default pattern never enters down/
        ("*.sql", "down/0001_a.sql", False, False),
        ("*/migration.sql", "0001_a/migration.sql", False, True),
        ("*/migration.sql", "down", True, True),  # it enters any folder...
        ("*/migration.sql", "down/0001_a/migration.sql", False, False),  # ...one level deep
        ("*/migration.sql", ".git/migration.sql", False, False),
        ("**/*.sql", "a/b/c.sql", False, True),
        ("**/*.sql", "c.sql", False, True),
        ("**/*.sql", "a/.hidden/c.sql", False, False),
        ("**/*.sql", ".hidden", True, False),
        ("**/*.sql", "down", True, True),
        ("{a,b}/*.sql", "b/x.sql", False, True),
        ("{a,b}/*.sql", "c/x.sql", False, False),
        ("[0-9]*.sql", "1_x.sql", False, True),
        ("[!0-9]*.sql", "1_x.sql", False, False),
        ("[!0-9]*.sql", "x.sql", False, True),
        ("0001_?.sql", "0001_a.sql", False, True),
        ("?.sql", ".x", False, False),
        ("a.sql", "a.sql", False, True),
        ("[z-a].sql", "z.sql", False, False),  # an invalid class matches nothing
    ],
)
def test_glob_is_minimatchs(pattern: str, path: str, partial: bool, hit: bool) -> None:
    assert Glob.compile(pattern).match(path, partial=partial) is hit


@pytest.mark.parametrize("pattern", ["@(a|b)/*.sql", "+(x).sql", "{1..3}/*.sql", "!*.sql"])
def test_a_glob_worktime_cannot_read_like_wrangler_is_refused(pattern: str) -> None:
    with pytest.raises(UsageError, match=r"migrations_pattern .* which worktime does not read"):
        Glob.compile(pattern)


# --- discovery -------------------------------------------------------------------------------


def test_discovery_under_the_drizzle_pattern(project: Path) -> None:
    """Was: "no migrations" (worktime ignored the pattern)."""
    p = patterned(project, DRIZZLE)
    for rel in (
        "migrations/10_c/migration.sql",
        "migrations/2_b/migration.sql",
        "migrations/0001_init/migration.sql",
        "migrations/0099_top.sql",  # the pattern does not match it: wrangler never runs it
        "migrations/0003_x/other.sql",
        "migrations/.0004_hidden/migration.sql",
        "migrations/0005_deep/x/migration.sql",
    ):
        put(project, rel)
    assert names(p) == ["0001_init/migration.sql", "2_b/migration.sql", "10_c/migration.sql"]
    [first, *_] = migrations.discover(files.layout(p.cfg, p.db))
    assert first.path == project / "migrations" / "0001_init" / "migration.sql"
    assert first.number == 1


def test_without_a_pattern_discovery_is_unchanged(project: Path) -> None:
    p = patterned(project, None)
    for rel in ("migrations/10_c.sql", "migrations/2_b.sql", "migrations/sub/0001_x.sql"):
        put(project, rel)
    put(project, "migrations/down/2_b.sql")
    assert names(p) == ["2_b.sql", "10_c.sql"]
    layout = files.layout(p.cfg, p.db)
    assert layout.down_path("2_b.sql") == project / "migrations" / "down" / "2_b.sql"


def test_applied_rows_under_a_pattern_are_not_missing(project: Path) -> None:
    """Was: wrangler-applied `0001_init/migration.sql` listed `missing`, and doctor advised
    restoring it from git."""
    p = patterned(project, DRIZZLE)
    put(project, "migrations/0001_init/migration.sql", table(1)[0])
    # Applied as wrangler applies it: the tracking row only, named relative to migrations_dir.
    p.path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(p.path)
    conn.executescript(
        table(1)[0] + migrations.tracking_ddl("d1_migrations") + "\nINSERT INTO d1_migrations "
        "(name) VALUES ('0001_init/migration.sql');"
    )
    conn.close()
    status = migrations.status(p.cfg, p.db, None)
    assert [(m.name, m.state) for m in status.migrations] == [
        ("0001_init/migration.sql", "unverified")
    ]
    report = doctor.run(project / "wrangler.toml")
    [state] = [c for c in report.checks if c.name == "d1 worktime-db: migrations"]
    assert state.status == "ok", state


def test_apply_and_rollback_under_the_drizzle_pattern(project: Path) -> None:
    p = patterned(project, DRIZZLE)
    put(project, "migrations/0001_t1/migration.sql", table(1)[0])
    put(project, "migrations/0002_t2/migration.sql", seeded(2))
    down = put(project, "migrations-down/0002_t2/migration.sql", "DROP TABLE t2;\n")
    assert migrations.apply(p.cfg, p.db, None).applied == [
        "0001_t1/migration.sql",
        "0002_t2/migration.sql",
    ]
    assert p.applied() == ["0001_t1/migration.sql", "0002_t2/migration.sql"]
    result = migrations.rollback(p.cfg, p.db, None, all=True)
    assert result.rolled_back == ["0002_t2/migration.sql", "0001_t1/migration.sql"]
    assert [m.source for m in result.migrations] == ["file", "derived"]
    assert p.applied() == []
    assert down.is_file()


# --- symlinks --------------------------------------------------------------------------------


def test_a_symlinked_migration_is_skipped_like_wrangler(project: Path) -> None:
    """Was: worktime applied a symlinked `.sql` file that wrangler 4.164 never runs."""
    p = patterned(project, None)
    put(project, "migrations/0001_t1.sql", table(1)[0])
    real = put(project, "shared/t2.sql", table(2)[0])
    (project / "migrations" / "0002_t2.sql").symlink_to(real)
    assert names(p) == ["0001_t1.sql"]
    result = migrations.apply(p.cfg, p.db, None)
    assert result.applied == ["0001_t1.sql"]
    assert any("skipped symlink(s) 0002_t2.sql" in w for w in result.warnings)
    assert p.query("SELECT name FROM sqlite_master WHERE name = 't2'") == []
    target = LocalMigrations(p.cfg, None, p.db)
    [finding] = reports.lint_all(target).findings
    assert (finding.code, finding.severity) == ("symlink-skipped", "warning")
    report = doctor.run(project / "wrangler.toml")
    [check] = [c for c in report.checks if c.name.endswith(": migration files")]
    assert check.status == "warn"


def test_a_symlinked_folder_is_not_entered(project: Path) -> None:
    p = patterned(project, EVERYTHING)
    put(project, "migrations/0001_a.sql")
    put(project, "elsewhere/0002_b.sql")
    (project / "migrations" / "linked").symlink_to(project / "elsewhere")
    assert names(p) == ["0001_a.sql"]
    assert files.walk(files.layout(p.cfg, p.db)).symlinks == ("linked",)


# --- down files and the pattern --------------------------------------------------------------


def test_down_files_go_where_the_pattern_cannot_match_them(project: Path) -> None:
    p = patterned(project, EVERYTHING)
    layout = files.layout(p.cfg, p.db)
    assert layout.downs == project / "migrations-down"
    created = migrations.create(p.cfg, p.db, "add notes")
    assert created.name == "0001_add_notes.sql"
    assert created.down_path == project / "migrations-down" / "0001_add_notes.sql"
    # What wrangler would run: the up file only.
    assert names(p) == ["0001_add_notes.sql"]
    # The default pattern keeps them in migrations/down/, which it never enters.
    q = patterned(project, "migrations/*.sql")
    assert files.layout(q.cfg, q.db).downs == project / "migrations" / "down"


def test_a_pattern_that_matches_down_files_refuses_apply_and_is_flagged(project: Path) -> None:
    """The hazard: with `migrations/**/*.sql`, wrangler ran `migrations/down/*.sql` as
    migrations (in a test it dropped a table)."""
    p = patterned(project, EVERYTHING)
    put(project, "migrations/0001_t1.sql", table(1)[0])
    put(project, "migrations/down/0001_t1.sql", table(1)[1])
    assert names(p) == ["0001_t1.sql", "down/0001_t1.sql"]  # what wrangler would apply
    with pytest.raises(WorktimeError, match=r"matches down files .*wrangler would run") as caught:
        migrations.apply(p.cfg, p.db, None)
    assert "migrations-down" in (caught.value.hint or "")
    assert not p.path.exists()  # nothing applied
    findings = reports.lint_all(LocalMigrations(p.cfg, None, p.db)).findings
    assert [(f.code, f.severity) for f in findings if f.code == "pattern-matches-down"] == [
        ("pattern-matches-down", "error")
    ]
    report = doctor.run(project / "wrangler.toml")
    [check] = [c for c in report.checks if c.name.endswith(": migration files")]
    assert check.status == "fail"
    assert "git mv" in (check.hint or "")
    # The fix, followed: down files moved out of the pattern's reach.
    (project / "migrations-down").mkdir()
    (project / "migrations" / "down" / "0001_t1.sql").rename(
        project / "migrations-down" / "0001_t1.sql"
    )
    assert migrations.apply(p.cfg, p.db, None).applied == ["0001_t1.sql"]
    assert migrations.rollback(p.cfg, p.db, None).migrations[0].source == "file"


def test_create_under_the_drizzle_pattern_writes_a_file_it_matches(project: Path) -> None:
    p = patterned(project, DRIZZLE)
    put(project, "migrations/0007_init/migration.sql")
    created = migrations.create(p.cfg, p.db, "add notes")
    assert created.name == "0008_add_notes/migration.sql"
    assert created.path == project / "migrations" / "0008_add_notes" / "migration.sql"
    assert created.down_path == project / "migrations-down" / "0008_add_notes" / "migration.sql"
    assert names(p) == ["0007_init/migration.sql", "0008_add_notes/migration.sql"]


def test_create_refuses_a_pattern_it_cannot_satisfy(project: Path) -> None:
    p = patterned(project, "migrations/*/up.sql")
    with pytest.raises(UsageError, match=r'migrations_pattern "migrations/\*/up.sql" matches '):
        migrations.create(p.cfg, p.db, "add notes")
    assert not (project / "migrations").exists()


# --- list, create's down comment, wording (issue 23 item 6) ----------------------------------


def test_list_does_not_promise_a_captured_copy_rollback_refuses(project: Path) -> None:
    """Was: `down: captured` / `has_down: true` for a copy rollback refuses."""
    p = patterned(project, None)
    p.write("0001_t1.sql", seeded(1), "DROP TABLE t1;\n")
    migrations.apply(p.cfg, p.db, None)
    (project / "migrations" / "down" / "0001_t1.sql").unlink()
    conn = sqlite3.connect(p.path)
    conn.execute("UPDATE d1_migrations_worktime SET down_sql = 'DROP TABLE t9;'")
    conn.commit()
    conn.close()
    [state] = migrations.status(p.cfg, p.db, None).migrations
    assert (state.down, state.has_down) == ("refused", False)
    assert state.to_json()["has_down"] is False
    with pytest.raises(WorktimeError, match="does not match the checksum stored with it"):
        migrations.rollback(p.cfg, p.db, None)


def test_create_says_what_rollback_does_with_an_empty_down_file(project: Path) -> None:
    """Was: the down file said rollback refuses it while rollback derives the inverse."""
    p = patterned(project, None)
    created = migrations.create(p.cfg, p.db, "add t1")
    created.path.write_text(created.path.read_text() + table(1)[0], encoding="utf-8")
    comment = created.down_path.read_text()
    assert "refuses it" not in comment
    assert "uses the" in comment and "derives from the up file" in comment
    migrations.apply(p.cfg, p.db, None)
    result = migrations.rollback(p.cfg, p.db, None)
    assert [(m.name, m.source) for m in result.migrations] == [("0001_add_t1.sql", "derived")]


def test_rollback_dry_run_says_derived_once(cli, project: Path) -> None:
    """Was: "(down SQL from derived from the up file)"."""
    p = patterned(project, None)
    p.write("0001_t1.sql", table(1)[0])
    migrations.apply(p.cfg, p.db, None)
    result = cli("d1", "migrations", "rollback", "worktime-db", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "-- rollback of 0001_t1.sql (down SQL derived from the up file)\n" in result.stdout
    assert "from derived" not in result.output
    listed = cli("d1", "migrations", "list", "worktime-db", "--json")
    assert json.loads(listed.stdout)["migrations"][0]["down"] == "derived"


def test_d1binding_defaults_have_no_pattern() -> None:
    binding = D1Binding(binding="DB", database_name="x")
    assert binding.migrations_pattern is None and binding.migrations_glob() is None
