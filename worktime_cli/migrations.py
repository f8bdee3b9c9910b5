"""D1 migrations: discover, plan, apply, roll back, bookkeeping and drift. No CLI code.

Files and the tracking table are wrangler 4's, so both tools can work on one checkout:

- Up files are `<migrations_dir>/*.sql`; each applied one is a row in `migrations_table`
  (default `d1_migrations`, wrangler's DDL) whose `name` is the file name with `.sql`.
- Down files are `<migrations_dir>/down/<same name>`: a subfolder, so wrangler's `*.sql`
  listing never sees (and never runs) them.
- Our extra facts (checksum of the up file, the down SQL at apply time, duration) live in
  a separate table, `<migrations_table>_worktime`. A migration wrangler applied has no row
  there: it is "unverified", never an error.

Every migration (or rollback step) runs with its tracking rows in one `BEGIN IMMEDIATE`
transaction, so it is applied fully or not at all, and two concurrent runs queue instead
of applying the same migration twice.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from worktime_cli import d1, snapshots
from worktime_cli.config import Config, D1Binding
from worktime_cli.errors import NotFoundError, SQLError, WorktimeError
from worktime_cli.sqlscript import Statement, split

DOWN_DIR = "down"
FACTS_SUFFIX = "_worktime"

APPLIED = "applied"
PENDING = "pending"
DRIFTED = "drifted"
MISSING = "missing"
UNVERIFIED = "unverified"
FAILED = "failed"
ROLLED_BACK = "rolled back"


class MigrationError(SQLError):
    """A migration (or its rollback) failed; `result` says what was done before it."""

    def __init__(
        self, message: str, hint: str | None, result: ApplyResult | RollbackResult
    ) -> None:
        super().__init__(message, hint)
        self.result = result


class DriftError(WorktimeError):
    """Applied migration files changed since they were applied."""


# --- discovery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationFile:
    """One up file.

    name: the file name with `.sql`, exactly as recorded in `d1_migrations`.
    path: the up file. down_path: `<dir>/down/<name>` (it may not exist).
    number: the integer before the first `_` (as wrangler's parseInt), None if there is none.
    """

    name: str
    path: Path
    number: int | None
    down_path: Path

    @property
    def has_down(self) -> bool:
        return self.down_path.is_file()


_LEADING_INT = re.compile(r"[+-]?\d+")


def migration_number(name: str) -> int | None:
    """`parseInt(name.split("_")[0])` as wrangler computes it; None where that is NaN."""
    match = _LEADING_INT.match(name.split("_", 1)[0].lstrip())
    return int(match.group()) if match else None


def sort_key(name: str) -> tuple[int, int, str]:
    """wrangler 4's apply order: by number, numbered before unnumbered, then by name."""
    number = migration_number(name)
    return (0, number, name) if number is not None else (1, 0, name)


def discover(migrations_dir: Path, *, missing_ok: bool = False) -> list[MigrationFile]:
    """The up files in `migrations_dir`, in the order wrangler 4 applies them.

    Only regular files directly in the folder whose name ends in `.sql`; no recursion
    (so `down/` is never an up file), dotfiles skipped (editor lock files like
    `.#0001_x.sql` end in `.sql` too). A missing folder is an error unless `missing_ok`.
    """
    if not migrations_dir.is_dir():
        if missing_ok:
            return []
        raise NotFoundError(
            f"no migrations folder at {migrations_dir}",
            hint="create the first migration with `worktime d1 migrations create DATABASE MESSAGE`",
        )
    names = [
        entry.name
        for entry in migrations_dir.iterdir()
        if entry.name.endswith(".sql") and not entry.name.startswith(".") and entry.is_file()
    ]
    names.sort(key=sort_key)
    down = migrations_dir / DOWN_DIR
    return [
        MigrationFile(name, migrations_dir / name, migration_number(name), down / name)
        for name in names
    ]


def migrations_dir(cfg: Config, db: D1Binding) -> Path:
    return cfg.root / db.migrations_dir


def checksum(data: bytes) -> str:
    """SHA-256 of an up file, normalised (BOM stripped, CRLF→LF) so a checkout's line
    endings do not count as a change."""
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def read_sql(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SQLError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SQLError(f"cannot read {path}: {exc.strerror}") from None


# --- create ----------------------------------------------------------------------------------


def create(cfg: Config, db: D1Binding, message: str) -> tuple[Path, Path]:
    """Write the next `NNNN_message.sql` and its `down/NNNN_message.sql`; return both paths.

    Numbering and header are wrangler's: highest leading integer + 1, zero-padded to 4;
    spaces become `_`; the up file starts `-- Migration number: NNNN \\t <ISO date>`.
    """
    if not message.strip():
        raise WorktimeError(
            "the migration message is empty", hint='describe the change, e.g. "add notes"'
        )
    if "/" in message or "\\" in message:
        raise WorktimeError(
            f"the migration message {message!r} contains a path separator",
            hint="use words only; the message becomes part of the file name",
        )
    folder = migrations_dir(cfg, db)
    existing = discover(folder, missing_ok=True)
    numbers = [m.number for m in existing if m.number is not None]
    number = f"{max([*numbers, 0]) + 1:04d}"
    name = f"{number}_{message.replace(' ', '_')}.sql"
    up = folder / name
    down = folder / DOWN_DIR / name
    if up.exists() or down.exists():
        raise WorktimeError(f"{up} already exists")
    down.parent.mkdir(parents=True, exist_ok=True)
    moment = datetime.now(UTC)
    now = (
        moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )  # JS toISOString
    up.write_text(f"-- Migration number: {number} \t {now}\n", encoding="utf-8")
    down.write_text(
        f"-- Rollback of {name}: undo what the up file does, in reverse order.\n"
        "-- While this file has no statements, `worktime d1 migrations rollback` refuses it.\n",
        encoding="utf-8",
    )
    return up, down


# --- bookkeeping -----------------------------------------------------------------------------


def _ident(name: str) -> str:
    # wrangler interpolates the table name bare; keep its exact DDL for plain names so
    # sqlite_master reads the same whichever tool created the table.
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else d1.quote_identifier(name)


def _tracking_ddl(table: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {_ident(table)}(\n"
        "\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "\t\tname       TEXT UNIQUE,\n"
        "\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n"
        ");"
    )


# Public names for the remote engine, which must create byte-identical tables.
def tracking_ddl(table: str) -> str:
    """wrangler's `CREATE TABLE IF NOT EXISTS` for the migrations tracking table."""
    return _tracking_ddl(table)


def facts_ddl(table: str) -> str:
    """The DDL of our bookkeeping table (no trailing semicolon)."""
    return _facts_ddl(table)


def facts_table(db: D1Binding) -> str:
    """Our table beside wrangler's: checksum, down SQL at apply time, duration."""
    return db.migrations_table + FACTS_SUFFIX


def _facts_ddl(table: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {d1.quote_identifier(table)} (\n"
        "  name TEXT PRIMARY KEY,\n"
        "  checksum TEXT NOT NULL,\n"
        "  down_sql TEXT,\n"
        "  duration_ms REAL NOT NULL,\n"
        "  applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n"
        ")"
    )


@dataclass(frozen=True)
class AppliedRow:
    id: int
    name: str
    applied_at: str
    checksum: str | None  # None: applied by wrangler (or another tool): unverified
    down_sql: str | None
    duration_ms: float | None


def _table_exists(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? /* worktime */", (table,)
    ).fetchone()
    return row is not None


def _applied_rows(conn: sqlite3.Connection, db: D1Binding) -> list[AppliedRow]:
    """Applied migrations in the order they were applied (wrangler's `ORDER BY id`)."""
    if not _table_exists(conn, db.migrations_table):
        return []
    tracking = d1.quote_identifier(db.migrations_table)
    facts = d1.quote_identifier(facts_table(db))
    if _table_exists(conn, facts_table(db)):
        sql = (
            f"SELECT t.id, t.name, t.applied_at, f.checksum, f.down_sql, f.duration_ms "
            f"FROM {tracking} t LEFT JOIN {facts} f ON f.name = t.name ORDER BY t.id /* worktime */"
        )
    else:
        sql = f"SELECT id, name, applied_at, NULL, NULL, NULL FROM {tracking} ORDER BY id /* worktime */"
    return [AppliedRow(*row) for row in conn.execute(sql)]


def _ensure_tables(conn: sqlite3.Connection, db: D1Binding) -> None:
    conn.execute(_tracking_ddl(db.migrations_table))
    conn.execute(_facts_ddl(facts_table(db)))


# --- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationState:
    """One migration as `list` shows it.

    state: applied | pending | drifted (applied, file changed since) | missing (applied,
    file gone) | unverified (applied by another tool, no checksum recorded).
    out_of_order: pending, but sorts before the newest applied migration.
    """

    name: str
    state: str
    file: MigrationFile | None
    applied_at: str | None = None
    out_of_order: bool = False
    has_down: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.state,
            "applied_at": self.applied_at,
            "out_of_order": self.out_of_order,
            "has_down": self.has_down,
        }


@dataclass(frozen=True)
class Status:
    """Every migration of one database: files and tracking rows, merged in apply order."""

    database: str
    path: Path  # the local database file
    exists: bool
    migrations: tuple[MigrationState, ...]

    def named(self, state: str) -> list[MigrationState]:
        return [m for m in self.migrations if m.state == state]

    @property
    def pending(self) -> list[MigrationState]:
        return self.named(PENDING)

    @property
    def drifted(self) -> list[MigrationState]:
        return self.named(DRIFTED)

    @property
    def missing(self) -> list[MigrationState]:
        return self.named(MISSING)

    def to_json(self) -> dict[str, Any]:
        counts = {s: len(self.named(s)) for s in (APPLIED, PENDING, DRIFTED, MISSING, UNVERIFIED)}
        return {
            "database": self.database,
            "path": str(self.path),
            "exists": self.exists,
            "migrations": [m.to_json() for m in self.migrations],
            "counts": counts,
        }


def _read_applied(path: Path, db: D1Binding) -> list[AppliedRow]:
    if not path.is_file():
        return []
    conn = d1.connect(path)
    try:
        return _applied_rows(conn, db)
    finally:
        conn.close()


def _merge(files: Sequence[MigrationFile], applied: Sequence[AppliedRow]) -> list[MigrationState]:
    by_name = {row.name: row for row in applied}
    newest_applied = max((sort_key(row.name) for row in applied), default=None)
    states: list[MigrationState] = []
    for file in files:
        row = by_name.get(file.name)
        if row is None:
            late = newest_applied is not None and sort_key(file.name) < newest_applied
            states.append(MigrationState(file.name, PENDING, file, None, late, file.has_down))
            continue
        if row.checksum is None:
            state = UNVERIFIED
        elif checksum(file.path.read_bytes()) != row.checksum:
            state = DRIFTED
        else:
            state = APPLIED
        states.append(
            MigrationState(
                file.name, state, file, row.applied_at, False, file.has_down or bool(row.down_sql)
            )
        )
    known = {f.name for f in files}
    for row in applied:
        if row.name not in known:
            states.append(
                MigrationState(row.name, MISSING, None, row.applied_at, False, bool(row.down_sql))
            )
    states.sort(key=lambda s: sort_key(s.name))
    return states


def status(cfg: Config, db: D1Binding, persist_to: Path | None) -> Status:
    """Where each migration stands. Read-only: never creates the file or any table."""
    path = d1.database_path(cfg, db, persist_to)
    files = discover(migrations_dir(cfg, db), missing_ok=True)
    applied = _read_applied(path, db)
    return Status(db.database_name, path, path.is_file(), tuple(_merge(files, applied)))


# --- plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedMigration:
    file: MigrationFile
    sql: str
    statements: tuple[Statement, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What `apply` would run, after the drift / out-of-order checks passed."""

    status: Status
    migrations: tuple[PlannedMigration, ...]
    warnings: tuple[str, ...]  # e.g. drift allowed by --allow-drift


_FK_OFF = re.compile(
    r"^\s*PRAGMA\s+(?:\"?main\"?\s*\.\s*)?\"?foreign_keys\"?\s*(?:=\s*|\(\s*)['\"]?(?:off|0|false|no)\b",
    re.I,
)


def _statement_warnings(path: Path, statements: Iterable[Statement]) -> list[str]:
    warnings = []
    for statement in statements:
        if _FK_OFF.match(_strip_leading_comments(statement.sql)):
            warnings.append(
                f"{path}:{statement.line}: PRAGMA foreign_keys = OFF has no effect here: a migration "
                "runs in one transaction, where SQLite ignores it (and D1 ignores it everywhere); "
                "ON DELETE CASCADE still fires. For a table rebuild use PRAGMA defer_foreign_keys = ON"
            )
    return warnings


def _strip_leading_comments(sql: str) -> str:
    while True:
        sql = sql.lstrip()
        if sql.startswith("--"):
            sql = sql.partition("\n")[2]
        elif sql.startswith("/*"):
            sql = sql.partition("*/")[2]
        else:
            return sql


def _load(file: MigrationFile) -> PlannedMigration:
    sql = read_sql(file.path)
    statements = tuple(split(sql))
    return PlannedMigration(
        file, sql, statements, tuple(_statement_warnings(file.path, statements))
    )


def _resolve(name: str, names: Iterable[str]) -> str | None:
    for candidate in names:
        if name in (candidate, candidate.removesuffix(".sql")):
            return candidate
    return None


def plan(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    to: str | None = None,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
) -> Plan:
    """The migrations `apply` would run, in order; raises before anything if it must refuse."""
    folder = migrations_dir(cfg, db)
    files = discover(folder)
    current = status(cfg, db, persist_to)
    warnings: list[str] = []
    drifted = current.drifted
    if drifted:
        names = ", ".join(m.name for m in drifted)
        if not allow_drift:
            raise DriftError(
                f"applied migration(s) changed since they were applied: {names}",
                hint="restore the files (e.g. from git), or pass --allow-drift to apply the rest anyway",
            )
        warnings.append(f"applied migration(s) changed since they were applied: {names}")
    pending = current.pending
    if to is not None:
        target = _resolve(to, (f.name for f in files))
        if target is None:
            raise NotFoundError(f"no migration {to!r} in {folder}")
        limit = sort_key(target)
        pending = [m for m in pending if sort_key(m.name) <= limit]
    late = [m for m in pending if m.out_of_order]
    if late and not allow_out_of_order:
        raise WorktimeError(
            f"pending migration(s) sort before the newest applied one: {', '.join(m.name for m in late)}",
            hint="usually a branch merge; check they do not conflict, then pass --allow-out-of-order",
        )
    planned = []
    for m in pending:
        assert m.file is not None
        planned.append(_load(m.file))
    return Plan(current, tuple(planned), tuple(warnings))


# --- apply -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationEvent:
    """Progress: `kind` is start | done | failed; `index` counts from 1 to `total`."""

    name: str
    kind: str
    index: int
    total: int


@dataclass(frozen=True)
class Outcome:
    """One migration in an apply/rollback run.

    status: applied | rolled back | failed | pending (not reached) | skipped (another
    process did it first). source: for rollback, "file" or "captured" (the down SQL
    recorded at apply time).
    """

    name: str
    status: str
    duration_ms: float | None = None
    sql: str | None = None  # filled for --dry-run
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
        }
        if self.source is not None:
            data["source"] = self.source
        if self.sql is not None:
            data["sql"] = self.sql
        return data


@dataclass(frozen=True)
class ApplyResult:
    database: str
    dry_run: bool
    migrations: tuple[Outcome, ...]
    warnings: tuple[str, ...] = ()
    snapshot: snapshots.Snapshot | None = None
    duration_ms: float = 0.0
    error: str | None = None

    @property
    def applied(self) -> list[str]:
        return [m.name for m in self.migrations if m.status == APPLIED]

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "dry_run": self.dry_run,
            "migrations": [m.to_json() for m in self.migrations],
            "applied": len(self.applied),
            "warnings": list(self.warnings),
            "snapshot": None if self.snapshot is None else str(self.snapshot.path),
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


def _foreign_key_check(conn: sqlite3.Connection, source: str) -> None:
    """Fail on real violations; then clear SQLite's deferred-violation counter.

    The table-rebuild recipe (`PRAGMA defer_foreign_keys = ON`, copy, DROP, RENAME) leaves
    the counter raised by the DROP even though the renamed table satisfies every reference,
    so COMMIT would fail. `foreign_key_check` looks at the actual rows, so once it is clean,
    switching deferral off (which drops the stale counter) is safe.
    """
    rows = conn.execute("PRAGMA foreign_key_check /* worktime */").fetchall()
    if not rows:
        conn.execute("PRAGMA defer_foreign_keys = OFF /* worktime */")
    else:
        table, rowid, parent, _ = rows[0]
        raise SQLError(
            f"{source}: leaves {len(rows)} foreign key violation(s), e.g. {table} row {rowid} "
            f"references a missing {parent} row",
            hint="fix the data in the migration (or delete the orphans) before it ends",
        )


def apply(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    to: str | None = None,
    dry_run: bool = False,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> ApplyResult:
    """Apply pending migrations in order, each with its tracking rows in one transaction.

    A failing migration leaves no trace; the ones before it in this run stay applied (as
    wrangler) and `MigrationError.result` says which. `--dry-run` returns the SQL only.
    """
    started = time.perf_counter()
    the_plan = plan(
        cfg, db, persist_to, to=to, allow_drift=allow_drift, allow_out_of_order=allow_out_of_order
    )
    warnings = list(the_plan.warnings)
    for m in the_plan.migrations:
        warnings.extend(m.warnings)
    if dry_run or not the_plan.migrations:
        return ApplyResult(
            db.database_name,
            dry_run,
            tuple(
                Outcome(m.file.name, PENDING, sql=m.sql if dry_run else None)
                for m in the_plan.migrations
            ),
            tuple(warnings),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    snapshot = snapshots.take(cfg, db, persist_to, "apply")
    outcomes: dict[str, Outcome] = {
        m.file.name: Outcome(m.file.name, PENDING) for m in the_plan.migrations
    }
    total = len(the_plan.migrations)
    conn = d1.connect(the_plan.status.path, create=True)

    def result(error: str | None = None) -> ApplyResult:
        return ApplyResult(
            db.database_name,
            False,
            tuple(outcomes.values()),
            tuple(warnings),
            snapshot,
            (time.perf_counter() - started) * 1000,
            error,
        )

    tracking = d1.quote_identifier(db.migrations_table)
    facts = d1.quote_identifier(facts_table(db))
    relaxed = _relax_sync(conn)
    try:
        for index, m in enumerate(the_plan.migrations, start=1):
            name = m.file.name
            if on_event:
                on_event(MigrationEvent(name, "start", index, total))
            began = time.perf_counter()
            try:
                with conn.transaction():
                    if index == 1:  # never dropped once created, so once per run is enough
                        _ensure_tables(conn, db)
                    # Re-checked under the write lock: a concurrent run may have applied it
                    # while we waited in BEGIN IMMEDIATE.
                    if conn.execute(
                        f"SELECT 1 FROM {tracking} WHERE name = ? /* worktime */", (name,)
                    ).fetchone():
                        outcomes[name] = Outcome(name, "skipped")
                        continue
                    for statement in m.statements:
                        conn.run(statement, str(m.file.path), collect=False)
                    _foreign_key_check(conn, str(m.file.path))
                    duration = (time.perf_counter() - began) * 1000
                    conn.execute(
                        f"INSERT INTO {tracking} (name) VALUES (?) /* worktime */", (name,)
                    )
                    conn.execute(
                        f"INSERT OR REPLACE INTO {facts} (name, checksum, down_sql, duration_ms) "
                        "VALUES (?, ?, ?, ?) /* worktime */",
                        (name, checksum(m.file.path.read_bytes()), _down_text(m.file), duration),
                    )
            except WorktimeError as exc:
                outcomes[name] = Outcome(name, FAILED, (time.perf_counter() - began) * 1000)
                if on_event:
                    on_event(MigrationEvent(name, "failed", index, total))
                raise MigrationError(
                    f"migration {name} failed: {exc.message}", exc.hint, result(exc.message)
                ) from None
            outcomes[name] = Outcome(name, APPLIED, duration)
            if on_event:
                on_event(MigrationEvent(name, "done", index, total))
    finally:
        if relaxed:
            _sync(conn)
        conn.close()
    return result()


def _relax_sync(conn: sqlite3.Connection) -> bool:
    """Skip the fsync at each migration's COMMIT; `_sync` makes the whole run durable at the end.

    In WAL mode `synchronous = NORMAL` still keeps every commit atomic and the file
    consistent after a crash (a killed process loses nothing committed); only a power cut
    could drop the newest commits, and the final checkpoint closes that window. It turns
    1,000 fsyncs into one. Not in rollback-journal mode, where NORMAL risks corruption.
    """
    (mode,) = conn.execute("PRAGMA journal_mode /* worktime */").fetchone()
    if str(mode).lower() != "wal":
        return False
    conn.execute("PRAGMA synchronous = NORMAL /* worktime */")
    return True


def _sync(conn: sqlite3.Connection) -> None:
    # A checkpoint fsyncs the WAL before copying it back, making every commit above durable.
    conn.execute("PRAGMA synchronous = FULL /* worktime */")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE) /* worktime */").fetchall()


def _down_text(file: MigrationFile) -> str | None:
    return read_sql(file.down_path) if file.has_down else None


def mark_applied(cfg: Config, db: D1Binding, persist_to: Path | None, name: str) -> MigrationFile:
    """Record `name` as applied without running it (baseline an existing database)."""
    files = discover(migrations_dir(cfg, db))
    target = _resolve(name, (f.name for f in files))
    if target is None:
        raise NotFoundError(f"no migration {name!r} in {migrations_dir(cfg, db)}")
    file = next(f for f in files if f.name == target)
    conn = d1.connect(d1.database_path(cfg, db, persist_to), create=True)
    try:
        with conn.transaction():
            _ensure_tables(conn, db)
            tracking = d1.quote_identifier(db.migrations_table)
            if conn.execute(
                f"SELECT 1 FROM {tracking} WHERE name = ? /* worktime */", (target,)
            ).fetchone():
                raise WorktimeError(f"migration {target} is already applied to {db.database_name}")
            conn.execute(f"INSERT INTO {tracking} (name) VALUES (?) /* worktime */", (target,))
            conn.execute(
                f"INSERT OR REPLACE INTO {d1.quote_identifier(facts_table(db))} "
                "(name, checksum, down_sql, duration_ms) VALUES (?, ?, ?, 0) /* worktime */",
                (target, checksum(file.path.read_bytes()), _down_text(file)),
            )
    finally:
        conn.close()
    return file


# --- rollback --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackResult:
    database: str
    dry_run: bool
    migrations: tuple[Outcome, ...]  # newest first, the order they are rolled back in
    snapshot: snapshots.Snapshot | None = None
    duration_ms: float = 0.0
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def rolled_back(self) -> list[str]:
        return [m.name for m in self.migrations if m.status == ROLLED_BACK]

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "dry_run": self.dry_run,
            "migrations": [m.to_json() for m in self.migrations],
            "rolled_back": len(self.rolled_back),
            "warnings": list(self.warnings),
            "snapshot": None if self.snapshot is None else str(self.snapshot.path),
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


@dataclass(frozen=True)
class _Down:
    name: str
    sql: str
    source: str  # "file" | "captured"
    label: str  # what errors name: the down file, or "<name> (captured down SQL)"
    statements: tuple[Statement, ...]


def _down_for(row: AppliedRow, folder: Path) -> _Down | None:
    path = folder / DOWN_DIR / row.name
    if path.is_file():
        sql = read_sql(path)
        down = _Down(row.name, sql, "file", str(path), tuple(split(sql)))
    elif row.down_sql is not None:
        label = f"{row.name} (down SQL captured at apply time)"
        down = _Down(row.name, row.down_sql, "captured", label, tuple(split(row.down_sql)))
    else:
        return None
    return down if down.statements else None


def rollback(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    steps: int | None = None,
    to: str | None = None,
    all: bool = False,  # mirrors --all; shadows the builtin, unused here
    dry_run: bool = False,
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> RollbackResult:
    """Roll back the newest applied migrations: `steps` (default 1), all after `to`, or `all`.

    Each runs its down SQL (the down file, else the copy captured at apply time) and
    deletes its tracking rows in one transaction. Irreversible migrations are refused by
    name before anything changes.
    """
    started = time.perf_counter()
    if sum(x is not None and x is not False for x in (steps, to, all)) > 1:
        raise WorktimeError("give only one of --steps, --to and --all")
    if steps is not None and steps < 1:
        raise WorktimeError("--steps must be at least 1")
    path = d1.database_path(cfg, db, persist_to)
    applied = _read_applied(path, db)
    if all:
        targets = list(applied)
    elif to is not None:
        target = _resolve(to, (r.name for r in applied))
        if target is None:
            raise NotFoundError(f"migration {to!r} is not applied to {db.database_name}")
        index = next(i for i, r in enumerate(applied) if r.name == target)
        targets = applied[index + 1 :]
    else:
        targets = applied[max(0, len(applied) - (steps or 1)) :]
    targets.reverse()
    folder = migrations_dir(cfg, db)
    downs: list[_Down] = []
    irreversible = []
    for row in targets:
        down = _down_for(row, folder)
        if down is None:
            irreversible.append(row.name)
        else:
            downs.append(down)
    if irreversible:
        raise WorktimeError(
            f"cannot roll back irreversible migration(s): {', '.join(irreversible)} "
            f"(no down SQL in {folder / DOWN_DIR}, none captured at apply time); nothing changed",
            hint="write the down file with the SQL that undoes it, then retry",
        )
    if dry_run or not downs:
        return RollbackResult(
            db.database_name,
            dry_run,
            tuple(
                Outcome(d.name, APPLIED, sql=d.sql if dry_run else None, source=d.source)
                for d in downs
            ),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    warnings = [w for d in downs for w in _statement_warnings(Path(d.label), d.statements)]
    snapshot = snapshots.take(cfg, db, persist_to, "rollback")
    outcomes = {d.name: Outcome(d.name, APPLIED, source=d.source) for d in downs}

    def result(error: str | None = None) -> RollbackResult:
        return RollbackResult(
            db.database_name,
            False,
            tuple(outcomes.values()),
            snapshot,
            (time.perf_counter() - started) * 1000,
            error,
            tuple(warnings),
        )

    tracking = d1.quote_identifier(db.migrations_table)
    facts = d1.quote_identifier(facts_table(db))
    conn = d1.connect(path)
    try:
        for index, down in enumerate(downs, start=1):
            if on_event:
                on_event(MigrationEvent(down.name, "start", index, len(downs)))
            began = time.perf_counter()
            try:
                with conn.transaction():
                    if not conn.execute(
                        f"SELECT 1 FROM {tracking} WHERE name = ? /* worktime */", (down.name,)
                    ).fetchone():
                        outcomes[down.name] = Outcome(down.name, "skipped", source=down.source)
                        continue
                    for statement in down.statements:
                        conn.run(statement, down.label, collect=False)
                    _foreign_key_check(conn, down.label)
                    conn.execute(
                        f"DELETE FROM {tracking} WHERE name = ? /* worktime */", (down.name,)
                    )
                    if _table_exists(conn, facts_table(db)):
                        conn.execute(
                            f"DELETE FROM {facts} WHERE name = ? /* worktime */", (down.name,)
                        )
            except WorktimeError as exc:
                outcomes[down.name] = Outcome(
                    down.name, FAILED, (time.perf_counter() - began) * 1000, source=down.source
                )
                if on_event:
                    on_event(MigrationEvent(down.name, "failed", index, len(downs)))
                raise MigrationError(
                    f"rollback of {down.name} failed: {exc.message}", exc.hint, result(exc.message)
                ) from None
            outcomes[down.name] = Outcome(
                down.name, ROLLED_BACK, (time.perf_counter() - began) * 1000, source=down.source
            )
            if on_event:
                on_event(MigrationEvent(down.name, "done", index, len(downs)))
    finally:
        conn.close()
    return result()


# --- schema comparison (for `doctor`) --------------------------------------------------------

SchemaRow = tuple[str, str, str, str]  # (type, name, tbl_name, normalised sql)


def _normalise_sql(sql: str) -> str:
    return " ".join(sql.split())


def schema_of(conn: sqlite3.Connection, migrations_table: str = "d1_migrations") -> list[SchemaRow]:
    """The user schema as sorted `(type, name, tbl_name, sql)` rows, whitespace-normalised.

    Ignored: the tracking table and our facts table, `sqlite_*` (sqlite_sequence,
    autoindexes) and D1's `_cf_*` internals.
    """
    ignore = {migrations_table.lower(), (migrations_table + FACTS_SUFFIX).lower()}
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL /* worktime */"
    ).fetchall()
    result = []
    for type_, name, tbl_name, sql in rows:
        lowered = (name.lower(), tbl_name.lower())
        if any(n.startswith(("sqlite_", d1.RESERVED_PREFIX)) or n in ignore for n in lowered):
            continue
        result.append((type_, name, tbl_name, _normalise_sql(sql)))
    return sorted(result)


def expected_schema(cfg: Config, db: D1Binding, *, upto: str | None = None) -> list[SchemaRow]:
    """The schema every migration file (or those up to `upto`) builds on an empty database."""
    files = discover(migrations_dir(cfg, db), missing_ok=True)
    conn = d1.connect(Path(":memory:"), create=True)
    try:
        for file in files:
            statements = split(read_sql(file.path))
            with conn.transaction():
                for statement in statements:
                    conn.run(statement, str(file.path), collect=False)
            if upto is not None and file.name == upto:
                break
        return schema_of(conn, db.migrations_table)
    finally:
        conn.close()
