"""The local migrations target: the SQLite file under `.wrangler/state`, wrangler's table.

Each applied migration is a row in `migrations_table` (default `d1_migrations`, wrangler's
DDL) whose `name` is the file name; our extra facts (checksum, the down SQL at apply time,
duration) live in `<migrations_table>_worktime`. A migration wrangler applied has no row
there: it is "unverified", never an error.

Every step runs with its tracking rows in one `BEGIN IMMEDIATE` transaction, so it is done
fully or not at all, and two concurrent runs queue on SQLite's write lock; the step
re-checks the tracking table under that lock, so a migration is never applied twice.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli import d1
from worktime_cli.d1 import snapshots
from worktime_cli.errors import SQLError
from worktime_cli.migrations.files import FACTS_SUFFIX, Layout, layout, migrations_dir
from worktime_cli.migrations.plan import AppliedRow, Step
from worktime_cli.project.config import Config, D1Binding

if TYPE_CHECKING:
    from worktime_cli.d1.snapshots import Snapshot
    from worktime_cli.migrations.schema import SchemaRow


def _ident(name: str) -> str:
    # wrangler interpolates the table name bare; keep its exact DDL for plain names so
    # sqlite_master reads the same whichever tool created the table.
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else d1.quote_identifier(name)


def tracking_ddl(table: str) -> str:
    """wrangler's `CREATE TABLE IF NOT EXISTS` for the migrations tracking table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {_ident(table)}(\n"
        "\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "\t\tname       TEXT UNIQUE,\n"
        "\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n"
        ");"
    )


def facts_ddl(table: str) -> str:
    """The DDL of our bookkeeping table (no trailing semicolon)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {d1.quote_identifier(table)} (\n"
        "  name TEXT PRIMARY KEY,\n"
        "  checksum TEXT NOT NULL,\n"
        "  down_sql TEXT,\n"
        "  duration_ms REAL NOT NULL,\n"
        "  applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL,\n"
        "  down_checksum TEXT\n"
        ")"
    )


# Added after the first release: a facts table an older worktime made lacks it. It is the
# last column, nullable, so older versions (which name their columns) keep writing rows.
SEAL_COLUMN = "down_checksum"


def add_seal_column(table: str) -> str:
    """The ALTER that brings an older facts table up to `facts_ddl`."""
    return f"ALTER TABLE {d1.quote_identifier(table)} ADD COLUMN {SEAL_COLUMN} TEXT"


def facts_table(db: D1Binding) -> str:
    """Our table beside wrangler's: checksum, down SQL at apply time, duration."""
    return db.migrations_table + FACTS_SUFFIX


def _table_exists(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? /* worktime */", (table,)
    ).fetchone()
    return row is not None


def _has_seal_column(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pragma_table_info(?) WHERE name = ? /* worktime */", (table, SEAL_COLUMN)
    ).fetchone()
    return row is not None


def applied_rows(conn: sqlite3.Connection, db: D1Binding) -> list[AppliedRow]:
    """Applied migrations in the order they were applied (wrangler's `ORDER BY id`).

    Read-only: an older facts table (no seal column) is read as it is, its copies unsealed.
    """
    if not _table_exists(conn, db.migrations_table):
        return []
    tracking = d1.quote_identifier(db.migrations_table)
    facts = d1.quote_identifier(facts_table(db))
    if _table_exists(conn, facts_table(db)):
        seal = "f." + SEAL_COLUMN if _has_seal_column(conn, facts_table(db)) else "NULL"
        sql = (
            f"SELECT t.id, t.name, t.applied_at, f.checksum, f.down_sql, f.duration_ms, {seal} "
            f"FROM {tracking} t LEFT JOIN {facts} f ON f.name = t.name ORDER BY t.id /* worktime */"
        )
    else:
        sql = (
            f"SELECT id, name, applied_at, NULL, NULL, NULL, NULL FROM {tracking} "
            "ORDER BY id /* worktime */"
        )
    return [AppliedRow(*row) for row in conn.execute(sql)]


def _prepare(conn: sqlite3.Connection, db: D1Binding) -> None:
    """The ledger's tables as this version writes them (inside the step's transaction)."""
    conn.execute(tracking_ddl(db.migrations_table))
    conn.execute(facts_ddl(facts_table(db)))
    if not _has_seal_column(conn, facts_table(db)):
        conn.execute(add_seal_column(facts_table(db)) + " /* worktime */")


def foreign_key_check(conn: sqlite3.Connection, source: str) -> None:
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


class LocalMigrations:
    """The migrations of one configured database's local SQLite file."""

    def __init__(self, config: Config, persist_to: Path | None, database: str | D1Binding) -> None:
        self.config = config
        self.persist_to = persist_to
        self._binding = database if isinstance(database, D1Binding) else config.d1(database)
        self.path = d1.database_path(config, self._binding, persist_to)
        self._conn: d1.D1Connection | None = None
        self._prepared = False
        self._changed = False  # a step ran: the run's snapshot stays (see `lock`)

    @property
    def binding(self) -> D1Binding:
        return self._binding

    @property
    def folder(self) -> Path:
        return migrations_dir(self.config, self._binding)

    @property
    def layout(self) -> Layout:
        return layout(self.config, self._binding)

    @property
    def label(self) -> str:
        return self._binding.database_name

    @property
    def undo_note(self) -> str:
        return "a snapshot is kept"

    def location(self) -> dict[str, Any]:
        return {"path": str(self.path), "exists": self.path.is_file()}

    def applied(self) -> list[AppliedRow]:
        """Read-only: never creates the file or any table."""
        if self._conn is not None:
            return applied_rows(self._conn, self._binding)
        if not self.path.is_file():
            return []
        conn = d1.connect(self.path)
        try:
            return applied_rows(conn, self._binding)
        finally:
            conn.close()

    def schema(self) -> list[SchemaRow]:
        from worktime_cli.migrations.schema import schema_of

        if self._conn is not None:
            return schema_of(self._conn, self._binding.migrations_table)
        if not self.path.is_file():
            return []
        conn = d1.connect(self.path)
        try:
            return schema_of(conn, self._binding.migrations_table)
        finally:
            conn.close()

    def before_run(self, operation: str) -> Snapshot | None:
        return snapshots.take(self.config, self._binding, self.persist_to, operation)

    def discard(self, snapshot: Snapshot | None) -> None:
        if snapshot is not None:
            snapshots.discard(snapshot)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One connection for the run. The write lock itself is taken per step (BEGIN
        IMMEDIATE), so a concurrent run interleaves step by step and each step re-checks."""
        conn = d1.connect(self.path, create=True)
        relaxed = _relax_sync(conn)
        self._conn = conn
        self._changed = False
        try:
            yield
        finally:
            self._conn = None
            self._prepared = False
            try:
                if relaxed:
                    _sync(conn)
            finally:
                conn.close()
            # The engine keeps the snapshot of a run that changed something (and discards
            # the others): only now may the ring drop its oldest for it (issue 19).
            if self._changed:
                snapshots.settle_ring(self.config, self._binding, self.persist_to)

    def run_group(self, steps: Sequence[Step]) -> None:
        """Every step in one `BEGIN IMMEDIATE` transaction: all or none."""
        conn = self._conn
        if conn is None:
            raise AssertionError("LocalMigrations.run_group outside lock()")
        db = self._binding
        tracking = d1.quote_identifier(db.migrations_table)
        with conn.transaction():
            _prepare(conn, db)
            for step in steps:
                done = conn.execute(
                    f"SELECT 1 FROM {tracking} WHERE name = ? /* worktime */", (step.name,)
                ).fetchone()
                if (done is not None) == (step.kind == "apply"):
                    verb = "applied" if step.kind == "apply" else "rolled back"
                    raise SQLError(f"{step.name} was {verb} by another run meanwhile")
                self._steps_in_transaction(conn, step)
        self._changed = True

    def _steps_in_transaction(self, conn: d1.D1Connection, step: Step) -> None:
        db = self._binding
        tracking = d1.quote_identifier(db.migrations_table)
        facts = d1.quote_identifier(facts_table(db))
        began = time.perf_counter()
        for statement in step.statements:
            conn.run(statement, step.label, collect=False)
        if step.statements:
            foreign_key_check(conn, step.label)
        if step.kind == "apply":
            duration = (time.perf_counter() - began) * 1000
            conn.execute(f"INSERT INTO {tracking} (name) VALUES (?) /* worktime */", (step.name,))
            conn.execute(
                f"INSERT OR REPLACE INTO {facts} (name, checksum, down_sql, duration_ms, "
                f"{SEAL_COLUMN}) VALUES (?, ?, ?, ?, ?) /* worktime */",
                (step.name, step.checksum, step.down_sql, duration, step.down_checksum),
            )
        else:
            conn.execute(f"DELETE FROM {tracking} WHERE name = ? /* worktime */", (step.name,))
            conn.execute(f"DELETE FROM {facts} WHERE name = ? /* worktime */", (step.name,))

    def run(self, step: Step) -> bool:
        conn = self._conn
        if conn is None:
            raise AssertionError("LocalMigrations.run outside lock()")
        db = self._binding
        tracking = d1.quote_identifier(db.migrations_table)
        with conn.transaction():
            if not self._prepared:  # never dropped once created, so once per run is enough
                _prepare(conn, db)
            # Re-checked under the write lock: a concurrent run may have done it while we
            # waited in BEGIN IMMEDIATE.
            done = conn.execute(
                f"SELECT 1 FROM {tracking} WHERE name = ? /* worktime */", (step.name,)
            ).fetchone()
            if (done is not None) == (step.kind == "apply"):
                return False
            self._steps_in_transaction(conn, step)
        self._prepared = True
        self._changed = True
        return True


class ScratchMigrations(LocalMigrations):
    """The migrations target of a reset or a rehearsal: the scratch file, with no snapshot of
    its own (a snapshot of an empty file would restore nothing, and would crowd a real one
    out)."""

    def __init__(self, cfg: Config, persist_to: Path | None, db: D1Binding, path: Path) -> None:
        super().__init__(cfg, persist_to, db)
        self.path = path

    def before_run(self, operation: str) -> Snapshot | None:
        return None

    def discard(self, snapshot: Snapshot | None) -> None:
        return None
