"""Rollbacks verified before they are needed: every migration replayed in a scratch database.

For each migration, on an in-memory database holding what the migrations before it built
(schema S0): up → schema A (kept); then, inside a transaction that is always rolled back,
down → must equal S0, and up again → must equal A. So a down file (or the derived or
captured down SQL) is tested on the day it is written, not the day it is needed.

The scratch connection is a `d1.connect` one: D1's limits and statement rules apply, so a
statement D1 would refuse fails here too. Schemas are compared as `sqlite_master` rows,
whitespace collapsed and plain identifiers unquoted (SQLite writes `"t"` back after a rename
round trip: the same table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli import d1
from worktime_cli.errors import WorktimeError
from worktime_cli.migrations.files import Source
from worktime_cli.migrations.local import foreign_key_check
from worktime_cli.migrations.plan import AppliedRow, down_for, why_irreversible
from worktime_cli.migrations.schema import SchemaRow, schema_of
from worktime_cli.sqlscript import Statement

OK = "ok"
FAILED = "failed"
DIFFERS = "differs"
NONE = "none"
SKIPPED = "skipped"

_QUOTED_PLAIN = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"')

# One string for the whole user schema, built in C: the fast path of every comparison. In
# sqlite_master's own order (no sort: a sort per step made the replay quadratic in C too); a
# down that restores the schema leaves the rows before it in their order, and an order that
# differs anyway falls back to comparing the parsed rows.
_FINGERPRINT = (
    "SELECT group_concat(type || char(31) || name || char(31) || tbl_name || char(31) || sql, "
    "char(30)) FROM sqlite_master WHERE sql IS NOT NULL "
    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' /* worktime */"
)


def normalise(rows: Iterable[SchemaRow]) -> set[SchemaRow]:
    """Rows as compared: whitespace collapsed (`schema_of`), plain identifiers unquoted."""
    return {(t, n.lower(), tbl.lower(), _QUOTED_PLAIN.sub(r"\1", sql)) for t, n, tbl, sql in rows}


def diff(before: Iterable[SchemaRow], after: Iterable[SchemaRow]) -> tuple[str, ...]:
    """`- type name: sql` for rows only in `before`, `+ …` for rows only in `after`."""
    old, new = normalise(before), normalise(after)
    lines = [f"- {t} {n}: {sql}" for t, n, _, sql in sorted(old - new)]
    lines += [f"+ {t} {n}: {sql}" for t, n, _, sql in sorted(new - old)]
    return tuple(lines)


class Scratch:
    """An in-memory D1-like database to replay migrations into."""

    def __init__(self, migrations_table: str = "d1_migrations") -> None:
        self.conn = d1.connect(Path(":memory:"), create=True)
        self.migrations_table = migrations_table

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, statements: Sequence[Statement], label: str) -> str | None:
        """Run `statements` as one transaction, kept; the error message on failure (rolled back)."""
        try:
            with self.conn.transaction():
                self.statements(statements, label)
        except WorktimeError as exc:
            return exc.message
        return None

    def statements(self, statements: Sequence[Statement], label: str) -> None:
        for statement in statements:
            self.conn.run(statement, label, collect=False)
        if statements:
            # As the local target: real violations fail, a rebuild's stale deferred
            # counter is cleared (see `local.foreign_key_check`).
            foreign_key_check(self.conn, label)

    def begin(self) -> None:
        self.conn.execute("BEGIN /* worktime */")

    def commit(self) -> None:
        self.conn.execute("COMMIT /* worktime */")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK /* worktime */")

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


def _snap(scratch: Scratch) -> Snapshot:
    return Snapshot(scratch.fingerprint())


def _same(a: Snapshot, b: Snapshot) -> bool:
    return a.fingerprint == b.fingerprint or normalise(a.rows) == normalise(b.rows)


@dataclass(frozen=True)
class VerifiedMigration:
    """One migration's replay.

    up: ok | failed | skipped (an earlier up failed: nothing to replay it on).
    down: ok | failed (the down SQL errors) | differs (it runs but does not restore the
    schema, or up fails or builds something else after it) | none (no down SQL) | skipped.
    down_source: file | captured | derived | none. diff: schema lines when down differs.
    """

    name: str
    up: str
    down: str
    down_source: str
    error: str | None = None
    diff: tuple[str, ...] = ()

    @property
    def broken_down(self) -> bool:
        return self.down in (FAILED, DIFFERS)

    @property
    def ok(self) -> bool:
        return self.up != FAILED and not self.broken_down

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "up": self.up,
            "down": self.down,
            "down_source": self.down_source,
            "error": self.error,
            "diff": list(self.diff),
        }


@dataclass(frozen=True)
class VerifyResult:
    """`migrations verify`: every migration replayed; `ok` when no up fails and no down is broken."""

    database: str
    migrations: tuple[VerifiedMigration, ...]

    @property
    def problems(self) -> list[VerifiedMigration]:
        return [m for m in self.migrations if not m.ok]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "ok": self.ok,
            "migrations": [m.to_json() for m in self.migrations],
            "problems": len(self.problems),
        }


def replay(
    sources: Sequence[Source],
    *,
    rows: Mapping[str, AppliedRow] | None = None,
    check: set[str] | None = None,
    migrations_table: str = "d1_migrations",
) -> list[VerifiedMigration]:
    """Replay `sources` in order; check the down SQL of those in `check` (default: all).

    A migration not in `check` is only applied (it is the ground the checked ones stand on);
    it is reported only if its up fails, which stops the replay.
    """
    rows = rows or {}
    results: list[VerifiedMigration] = []
    with Scratch(migrations_table) as scratch:
        before: Snapshot | None = _snap(scratch)
        failed = False
        for source in sources:
            checked = check is None or source.name in check
            row = rows.get(source.name)
            down = down_for(source, row)
            kind = NONE if down is None else down.source
            if failed:
                if checked:
                    results.append(VerifiedMigration(source.name, SKIPPED, SKIPPED, kind))
                continue
            if checked and before is None:
                before = _snap(scratch)
            error = scratch.run(source.statements, str(source.file.path))
            if error is not None:
                failed = True
                results.append(VerifiedMigration(source.name, FAILED, SKIPPED, kind, error))
                continue
            if not checked or before is None:
                # Ground for the checked ones: no schema read (it would cost more than the
                # replay), so the next checked migration reads its own "before".
                before = None
                continue
            after = _snap(scratch)
            if down is None:
                why = why_irreversible(source, row)
                results.append(VerifiedMigration(source.name, OK, NONE, NONE, why))
            else:
                results.append(
                    _check_down(scratch, source, down.statements, down.label, kind, before, after)
                )
            before = after
    return results


def _check_down(
    scratch: Scratch,
    source: Source,
    down: Sequence[Statement],
    down_label: str,
    kind: str,
    before: Snapshot,
    after: Snapshot,
) -> VerifiedMigration:
    name = source.name
    scratch.begin()
    try:
        try:
            scratch.statements(down, down_label)
        except WorktimeError as exc:
            return VerifiedMigration(name, OK, FAILED, kind, exc.message)
        restored = _snap(scratch)
        if not _same(restored, before):
            return VerifiedMigration(
                name,
                OK,
                DIFFERS,
                kind,
                f"{down_label}: does not restore the schema from before {name}",
                diff(before.rows, restored.rows),
            )
        try:
            scratch.statements(source.statements, str(source.file.path))
        except WorktimeError as exc:
            return VerifiedMigration(
                name, OK, DIFFERS, kind, f"up again after the down SQL fails: {exc.message}"
            )
        again = _snap(scratch)
        if not _same(again, after):
            return VerifiedMigration(
                name,
                OK,
                DIFFERS,
                kind,
                "up again after the down SQL builds another schema",
                diff(after.rows, again.rows),
            )
        # Down then up again left exactly the schema after up: keep it. A rollback would
        # make SQLite re-read the whole schema, once per migration.
        scratch.commit()
        return VerifiedMigration(name, OK, OK, kind)
    finally:
        scratch.rollback()


def built_schema(
    sources: Sequence[Source], migrations_table: str = "d1_migrations"
) -> list[SchemaRow] | str:
    """The schema `sources` build on an empty database, in order; the error text if one fails."""
    with Scratch(migrations_table) as scratch:
        for source in sources:
            error = scratch.run(source.statements, str(source.file.path))
            if error is not None:
                return error
        return scratch.rows()


def live_mismatch(
    live: Sequence[SchemaRow], sources: Sequence[Source], migrations_table: str = "d1_migrations"
) -> str | None:
    """None when `live` is the schema `sources` build; else a short description of how not."""
    built = built_schema(sources, migrations_table)
    if isinstance(built, str):
        return f"the applied files do not replay on an empty database: {built}"
    lines = diff(built, live)
    if not lines:
        return None
    shown = "; ".join(lines[:3]) + (f"; … {len(lines) - 3} more" if len(lines) > 3 else "")
    return f"- what the files build, + the live database: {shown}"
