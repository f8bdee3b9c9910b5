"""The scratch database migrations are replayed into: in memory, under D1's rules.

The scratch connection is a `d1.connect` one: D1's limits and statement rules apply, so a
statement D1 would refuse fails here too. Its schema is compared either as a `Snapshot` (one
fingerprint string SQLite builds in C, what `alter` checks) or, with `track`, through the
`schema_tracker.Tracker` model (what `verify.replay` checks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from worktime_cli import d1
from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.migrations.local import foreign_key_check
from worktime_cli.migrations.schema import SchemaRow, normalise, schema_of
from worktime_cli.migrations.schema_tracker import Tracker
from worktime_cli.sqlite.script import Statement

# One string for the whole user schema, built in C: the fast path of every comparison. In
# sqlite_master's own order (no sort: a sort per step made the replay quadratic in C too); a
# down that restores the schema leaves the rows before it in their order, and an order that
# differs anyway falls back to comparing the parsed rows.
_FINGERPRINT = (
    "SELECT group_concat(type || char(31) || name || char(31) || tbl_name || char(31) || sql, "
    "char(30)) FROM sqlite_master WHERE sql IS NOT NULL "
    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' /* worktime */"
)


class Scratch:
    """An in-memory D1-like database to replay migrations into.

    With `track`, the schema is followed as a `Tracker` model (what `verify.replay`
    compares); without it, `snap` fingerprints are the way to compare (`alter` does).
    """

    def __init__(self, migrations_table: str = "d1_migrations", *, track: bool = False) -> None:
        self.conn = d1.connect(Path(":memory:"), create=True)
        self.migrations_table = migrations_table
        self.tracker = Tracker(self.conn) if track else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, statements: Sequence[Statement], label: str) -> str | None:
        """Run `statements` as one transaction, kept; the error message on failure (rolled back)."""
        self.begin()
        try:
            self.statements(statements, label)
            self.commit()
        except WorktimeError as exc:
            self.rollback()
            return exc.message
        return None

    def statements(self, statements: Sequence[Statement], label: str) -> None:
        tracker = self.tracker
        for statement in statements:
            if tracker is not None:
                tracker.statement_started()
            self.conn.run(statement, label, collect=False)
            if tracker is not None:
                tracker.statement_done()
        if statements:
            # As the local target: real violations fail, a rebuild's stale deferred
            # counter is cleared (see `local.foreign_key_check`).
            foreign_key_check(self.conn, label)

    # Plain BEGIN, not the file connection's BEGIN IMMEDIATE with its busy-timeout dance:
    # nobody else can hold a lock on a private in-memory database.
    def begin(self) -> None:
        self.conn.execute("BEGIN /* worktime */")

    def commit(self) -> None:
        try:
            self.conn.execute("COMMIT /* worktime */")
        except sqlite3.Error as exc:
            raise SQLError(f"commit failed: {exc}") from None

    def run_past_failures(self, statements: Sequence[Statement], label: str) -> list[str]:
        """Run `statements` as one transaction, kept, leaving out those that fail: their
        messages. Rolled back (and the first message alone) if it cannot be kept whole."""
        tracker = self.tracker
        failures: list[str] = []
        self.begin()
        for statement in statements:
            if tracker is not None:
                tracker.statement_started()
            try:
                self.conn.run(statement, label, collect=False)
            except WorktimeError as exc:
                failures.append(exc.message)
                if not self.conn.in_transaction:
                    # SQLite took the whole transaction back (ON CONFLICT ROLLBACK, a
                    # trigger's RAISE(ROLLBACK)): nothing of this up is left to keep.
                    self.rollback()
                    return failures
            if tracker is not None:
                tracker.statement_done()
        try:
            # The rows are not what is verified: a counter of deferred violations left by
            # what failed must not take the schema back with it.
            self.conn.execute("PRAGMA defer_foreign_keys = OFF /* worktime */")
            self.commit()
        except WorktimeError:
            self.rollback()
        return failures

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK /* worktime */")
        if self.tracker is not None:
            self.tracker.forget_pending()

    def fingerprint(self) -> str:
        (value,) = self.conn.execute(_FINGERPRINT).fetchone()
        return str(value or "")

    def rows(self) -> list[SchemaRow]:
        return schema_of(self.conn, self.migrations_table)


@dataclass(frozen=True)
class Snapshot:
    """A schema at one point of a replay, as its fingerprint: one string SQLite builds in C.
    Rows are parsed from it only when two fingerprints differ (reading `sqlite_master` rows
    into Python at every step would make a replay of n migrations cost n² row reads)."""

    fingerprint: str

    @property
    def rows(self) -> tuple[SchemaRow, ...]:
        if not self.fingerprint:
            return ()
        found = []
        for part in self.fingerprint.split("\x1e"):
            type_, name, tbl_name, sql = part.split("\x1f", 3)
            found.append((type_, name, tbl_name, " ".join(sql.split())))
        return tuple(sorted(found))


def snap(scratch: Scratch) -> Snapshot:
    return Snapshot(scratch.fingerprint())


def same(a: Snapshot, b: Snapshot) -> bool:
    return a.fingerprint == b.fingerprint or normalise(a.rows) == normalise(b.rows)
