"""`worktime doctor`'s checks of one local D1 database.

The migrations folder, the file and its integrity, the migrations applied (and unchanged),
the schema against what the migrations build, foreign keys enforced with no orphan rows, and
the migrations replayed up and down on a scratch database. A check that cannot run because an
earlier one failed is skipped, never crashes the rest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from worktime_cli.errors import WorktimeError
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.secrets.safety import Check


def database_checks(cfg: Config, db: D1Binding, persist_to: Path | None) -> Iterator[Check]:
    """The checks of `db`, in order; one that fails ends the checks that depend on it."""
    from worktime_cli import d1, migrations

    label = f"d1 {db.database_name}"
    files_check = _migration_files(label, cfg, db)
    if files_check is not None:
        yield files_check
        if files_check.status == "fail":
            return  # every check below reads the migrations through the same layout
    path = d1.database_path(cfg, db, persist_to)
    if not path.is_file():
        yield Check(
            f"{label}: file",
            "fail",
            f"no local database file ({path})",
            f"run `worktime d1 migrations apply {db.database_name}` (or `worktime init`)",
        )
        return
    try:
        conn = d1.connect(path)
    except WorktimeError as exc:
        yield Check(f"{label}: file", "fail", exc.message, "restore it with `worktime d1 restore`")
        return
    try:
        yield _integrity(label, conn, path)
        status = migrations.status(cfg, db, persist_to)
        yield _migration_state(label, db, status)
        yield _schema(label, cfg, db, conn, status)
        yield _foreign_keys(label, conn)
        yield _replay(label, cfg, db, persist_to)
    except WorktimeError as exc:
        yield Check(label, "fail", exc.message, exc.hint)
    finally:
        conn.close()


def _replay(label: str, cfg: Config, db: D1Binding, persist_to: Path | None) -> Check:
    """`migrations verify` as a check: every up runs on a fresh database, every down undoes it."""
    from worktime_cli.migrations import LocalMigrations, reports

    result = reports.verify_all(LocalMigrations(cfg, persist_to, db))
    if result.ok:
        return Check(
            f"{label}: verify", "ok", f"{len(result.migrations)} migration(s) replay up/down/up"
        )
    return Check(
        f"{label}: verify",
        "fail",
        "; ".join(f"{m.name}: up {m.up}, down {m.down}" for m in result.problems[:3]),
        f"see `worktime d1 migrations verify {db.database_name}` for the schema diff",
    )


def _migration_files(label: str, cfg: Config, db: D1Binding) -> Check | None:
    """The files wrangler's walk sees, as `migrations lint` reports them: a pattern wrangler
    refuses, down files it would run as migrations, symlinks it skips. None when all is well."""
    from worktime_cli.migrations import files, lint, lint_codes

    name = f"{label}: migration files"
    try:
        where = files.layout(cfg, db)
    except WorktimeError as exc:
        return Check(name, "fail", exc.message, exc.hint)
    findings = lint.layout_findings(where)
    if not findings:
        return None
    return Check(
        name,
        "fail" if any(f.severity == lint_codes.ERROR for f in findings) else "warn",
        "; ".join(f"{f.file}: {f.message}" for f in findings[:3]),
        findings[0].fix,
    )


def _integrity(label: str, conn: sqlite3.Connection, path: Path) -> Check:
    try:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return Check(f"{label}: integrity", "ok", f"{path.name}: integrity_check ok")
    return Check(
        f"{label}: integrity",
        "fail",
        f"integrity_check: {'; '.join(rows[:3])}",
        f"restore a snapshot with `worktime d1 restore {label.removeprefix('d1 ')}`",
    )


def _migration_state(label: str, db: D1Binding, status: Any) -> Check:
    problems = []
    for kind, hint in (
        ("pending", f"worktime d1 migrations apply {db.database_name}"),
        ("drifted", "restore the applied files from git (or roll back and re-apply)"),
        ("missing", "restore the deleted migration files from git"),
    ):
        names = [m.name for m in getattr(status, kind)]
        if names and kind == "drifted":
            shown = ", ".join(names)
            problems.append(
                (f"drifted: {shown} (edited after it was applied: checksum differs)", hint)
            )
        elif names:
            problems.append((f"{kind}: {', '.join(names)}", hint))
    if problems:
        return Check(
            f"{label}: migrations",
            "fail",
            "; ".join(p for p, _ in problems),
            "; ".join(h for _, h in problems),
        )
    applied = sum(1 for m in status.migrations if m.state in ("applied", "unverified"))
    return Check(f"{label}: migrations", "ok", f"{applied} applied, none pending, no drift")


def _schema(label: str, cfg: Config, db: D1Binding, conn: sqlite3.Connection, status: Any) -> Check:
    """The live schema must be exactly what the applied migrations produce."""
    from worktime_cli import migrations

    drifted = [m.name for m in status.drifted]
    if drifted:
        # The expected schema is replayed from the files; an edited file no longer says what
        # was applied, so a difference would blame the database for the file's edit.
        return Check(
            f"{label}: schema",
            "skip",
            f"not compared: {', '.join(drifted)} changed after it was applied",
        )
    applied = [m.name for m in status.migrations if m.state in ("applied", "unverified")]
    if not applied:
        return Check(f"{label}: schema", "skip", "no migrations applied yet")
    expected = {
        (row[0], row[1]): row for row in migrations.expected_schema(cfg, db, upto=applied[-1])
    }
    actual = {(row[0], row[1]): row for row in migrations.schema_of(conn, db.migrations_table)}
    extra = sorted(f"{t} {n}" for (t, n) in actual.keys() - expected.keys())
    absent = sorted(f"{t} {n}" for (t, n) in expected.keys() - actual.keys())
    changed = sorted(
        f"{t} {n}"
        for key in expected.keys() & actual.keys()
        if expected[key] != actual[key]
        for (t, n) in [key]
    )
    if not (extra or absent or changed):
        return Check(f"{label}: schema", "ok", f"matches the migrations ({len(expected)} objects)")
    parts = [
        f"{what}: {', '.join(items)}"
        for what, items in (
            ("not from migrations", extra),
            ("missing", absent),
            ("changed", changed),
        )
        if items
    ]
    return Check(
        f"{label}: schema",
        "fail",
        "; ".join(parts),
        "put manual schema changes in a migration (`worktime d1 migrations create`)",
    )


def _foreign_keys(label: str, conn: sqlite3.Connection) -> Check:
    """Probe enforcement with an orphan insert, rolled back; then look for existing orphans."""
    enforced = False
    conn.execute("SAVEPOINT worktime_doctor /* worktime */")
    try:
        conn.execute("CREATE TEMP TABLE wt_probe_parent (id INTEGER PRIMARY KEY) /* worktime */")
        conn.execute(
            "CREATE TEMP TABLE wt_probe_child (p INTEGER REFERENCES wt_probe_parent(id)) /* worktime */"
        )
        try:
            conn.execute("INSERT INTO wt_probe_child VALUES (1) /* worktime */")
        except sqlite3.IntegrityError:
            enforced = True
    finally:
        conn.execute("ROLLBACK TO worktime_doctor /* worktime */")
        conn.execute("RELEASE worktime_doctor /* worktime */")
    if not enforced:
        return Check(
            f"{label}: foreign keys",
            "fail",
            "an orphan row was accepted: foreign keys are not enforced",
            "PRAGMA foreign_keys = ON must be set on every connection, outside transactions",
        )
    violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        tables = sorted({row[0] for row in violations})
        return Check(
            f"{label}: foreign keys",
            "fail",
            f"{len(violations)} existing row(s) reference missing parents (in {', '.join(tables)})",
            "delete or fix the orphan rows (`PRAGMA foreign_key_check` lists them)",
        )
    return Check(f"{label}: foreign keys", "ok", "enforced; no orphan rows")
