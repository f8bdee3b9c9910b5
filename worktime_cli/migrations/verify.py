"""Rollbacks verified before they are needed: every migration replayed in a scratch database.

For each migration, on an in-memory database holding what the migrations before it built
(schema S0): up → schema A (kept); then, inside a transaction that is always rolled back,
down → must equal S0, and up again → must equal A. So a down file (or the derived or
captured down SQL) is tested on the day it is written, not the day it is needed.

An up that fails is reported with every statement of it that fails (file:line, SQLite's
message), and `migrations verify` goes on: the up is replayed once more without its failing
statements, so the migrations after it are checked on what it does build (a broken down
two files later is found today, not after this one is fixed). Apply's check (`check`)
stops there instead, as the run will.

The scratch connection is a `d1.connect` one: D1's limits and statement rules apply, so a
statement D1 would refuse fails here too. Schemas are compared as `sqlite_master` rows,
whitespace collapsed and plain identifiers unquoted (SQLite writes `"t"` back after a rename
round trip: the same table).

Speed: a replay of n migrations must not read the whole schema at each step (n² rows). The
scratch keeps `sqlite_master` as a Python model (`_Tracker`) and, after each step, re-reads
only the rows that step could have changed: what SQLite's authorizer saw it create or drop
(by name, and every row of a dropped table), plus the rows past the last untouched rowid
(SQLite gives a new row max(rowid)+1). A step the authorizer cannot pin down (ALTER, virtual
tables, a write to sqlite_master, a schema cookie that moved unseen) re-reads every row.
Schemas are then compared on the rows one of the two steps changed: the rest is the same row.
"""

from __future__ import annotations

import bisect
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from worktime_cli import d1
from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.migrations.files import Source
from worktime_cli.migrations.local import foreign_key_check
from worktime_cli.migrations.plan import AppliedRow, down_for, why_irreversible
from worktime_cli.migrations.schema import SchemaRow, schema_of
from worktime_cli.sqlite.script import Statement

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
    """An in-memory D1-like database to replay migrations into.

    With `track`, the schema is followed as a `_Tracker` model (what `replay` compares);
    without it, `_snap` fingerprints are the way to compare (`alter` does).
    """

    def __init__(self, migrations_table: str = "d1_migrations", *, track: bool = False) -> None:
        self.conn = d1.connect(Path(":memory:"), create=True)
        self.migrations_table = migrations_table
        self.tracker = _Tracker(self.conn) if track else None

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


# The rows compared, as `_FINGERPRINT` selects them.
_COMPARED = "sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
_ROWS = "SELECT rowid, type, name, tbl_name, sql FROM sqlite_master WHERE " + _COMPARED
_MASTER = frozenset({"sqlite_master", "sqlite_schema"})
# Under D1's limit of 100 bound parameters per statement.
_CHUNK = 90

# What an authorizer action tells about the sqlite_master rows a statement may change.
_NAMED = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TRIGGER,
    }
)  # the row named arg1 (a CREATE also writes only the row it inserts)
_OWNER = frozenset({sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_VIEW})
# ^ every row whose tbl_name is arg1: the table's indexes and triggers go with it
_UNPINNED = frozenset(
    {sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE}
)  # a rename rewrites other objects' SQL; a virtual table makes shadow tables
_WRITES = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})

_Rows = dict[int, SchemaRow]


@dataclass(frozen=True)
class _Delta:
    """One step's change to sqlite_master by rowid: `removed` holds the rows as they were,
    `added` as they are (a changed row is in both)."""

    removed: _Rows
    added: _Rows
    version: int  # the schema cookie before the step

    def rowids(self) -> set[int]:
        return self.removed.keys() | self.added.keys()


def _net(first: _Delta, second: _Delta) -> tuple[list[SchemaRow], list[SchemaRow]]:
    """The rows before `first` and after `second` (run in that order), over the rowids either
    changed: every other row is the same in both schemas, so they compare as the whole."""
    before: list[SchemaRow] = []
    after: list[SchemaRow] = []
    for rowid in first.rowids() | second.rowids():
        if rowid in first.removed:
            before.append(first.removed[rowid])
        elif rowid not in first.added and rowid in second.removed:
            before.append(second.removed[rowid])
        if rowid in second.added:
            after.append(second.added[rowid])
        elif rowid not in second.removed and rowid in first.added:
            after.append(first.added[rowid])
    return before, after


class _Tracker:
    """The scratch's sqlite_master as a Python model, refreshed from what each step touched.

    It is the connection's authorizer (in front of D1's guard, which still decides): while
    a user statement is prepared it notes the names created or dropped. `refresh` then reads
    the rows under those names, and every row past the greatest rowid no step touched (a
    new row gets max(rowid)+1, so none can hide below it).
    """

    def __init__(self, conn: d1.D1Connection) -> None:
        self.conn = conn
        self.guard = conn.guard
        self.rows: _Rows = {}
        self.order: list[int] = []  # rowids, sorted
        self.by_name: dict[str, set[int]] = {}
        self.by_table: dict[str, set[int]] = {}
        self.names: set[str] = set()
        self.tables: set[str] = set()
        self.unpinned = False
        self._named = False
        self._wrote = False
        self.version = 0  # a new in-memory database: no row, cookie 0
        conn.set_authorizer(self)

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        guard = self.guard
        if not guard.armed:
            return sqlite3.SQLITE_OK
        verdict = guard(action, arg1, arg2, db, trigger)
        if verdict != sqlite3.SQLITE_OK:
            return verdict
        if action in _NAMED:
            self.names.add((arg1 or "").lower())
            self._named = True
        elif action in _OWNER:
            name = (arg1 or "").lower()
            self.names.add(name)
            self.tables.add(name)
            self._named = True
        elif action in _UNPINNED:
            self.unpinned = True
        elif action in _WRITES and (arg1 or "").lower() in _MASTER and arg2 != "rootpage":
            # SQLite's own write for a CREATE/DROP names its object too; a bare one is a
            # statement under `PRAGMA writable_schema` that may change any row.
            self._wrote = True
        return verdict

    def pause(self) -> None:
        """Stop noting (D1's guard alone, one Python call per action, not two) until `resume`:
        for a run of ground migrations, read once as a whole afterwards."""
        self.conn.set_authorizer(self.guard)

    def resume(self) -> None:
        self.conn.set_authorizer(self)
        self.unpinned = True  # the next refresh reads every row

    def statement_started(self) -> None:
        self._named = self._wrote = False

    def statement_done(self) -> None:
        if self._wrote and not self._named:
            self.unpinned = True

    def forget_pending(self) -> None:
        """After a rollback: what the rolled-back statements touched is gone with them."""
        self.names, self.tables, self.unpinned = set(), set(), False

    def _version(self) -> int:
        (value,) = self.conn.execute("PRAGMA schema_version /* worktime */").fetchone()
        return int(value)

    def refresh(self) -> _Delta:
        """Bring the model up to the connection's schema; what changed since the last call."""
        version = self._version()
        before = self.version
        names, tables, unpinned = self.names, self.tables, self.unpinned
        self.forget_pending()
        if not (names or tables or unpinned):
            if version == before:
                return _Delta({}, {}, before)
            unpinned = True  # the cookie moved and nothing we know of did it: read all
        self.version = version
        if unpinned:
            return self._reload(before)
        touched: set[int] = set()
        for name in names:
            touched |= self.by_name.get(name, set())
        for table in tables:
            touched |= self.by_table.get(table, set())
        order = self.order
        top = len(order)
        while top and order[top - 1] in touched:
            top -= 1
        floor = order[top - 1] if top else 0
        fetched = self.conn.execute(_ROWS + " AND rowid > ? /* worktime */", (floor,)).fetchall()
        below = sorted(r for r in touched if r <= floor)
        for at in range(0, len(below), _CHUNK):
            chunk = below[at : at + _CHUNK]
            marks = ",".join("?" * len(chunk))
            fetched += self.conn.execute(
                f"{_ROWS} AND rowid IN ({marks}) /* worktime */", chunk
            ).fetchall()
        now = {rowid: _row(t, n, tbl, sql) for rowid, t, n, tbl, sql in fetched}
        removed = {r: self.rows[r] for r in touched | set(order[top:]) if r in self.rows}
        return self._apply(removed, now, before)

    def _reload(self, before: int | None = None) -> _Delta:
        rows = self.conn.execute(_ROWS + " /* worktime */").fetchall()
        now = {rowid: _row(t, n, tbl, sql) for rowid, t, n, tbl, sql in rows}
        return self._apply(dict(self.rows), now, self.version if before is None else before)

    def _apply(self, removed: _Rows, added: _Rows, version: int) -> _Delta:
        for rowid in removed.keys() & added.keys():
            if removed[rowid] == added[rowid]:
                del removed[rowid], added[rowid]
        for rowid in removed:
            self._drop(rowid)
        for rowid, row in added.items():
            self._add(rowid, row)
        return _Delta(removed, added, version)

    def undo(self, delta: _Delta) -> None:
        """Back to the schema before `delta` (its step was rolled back)."""
        for rowid in delta.added:
            self._drop(rowid)
        for rowid, row in delta.removed.items():
            self._add(rowid, row)
        self.version = delta.version

    def _add(self, rowid: int, row: SchemaRow) -> None:
        self.rows[rowid] = row
        bisect.insort(self.order, rowid)
        self.by_name.setdefault(row[1].lower(), set()).add(rowid)
        self.by_table.setdefault(row[2].lower(), set()).add(rowid)

    def _drop(self, rowid: int) -> None:
        row = self.rows.pop(rowid)
        del self.order[bisect.bisect_left(self.order, rowid)]
        self.by_name[row[1].lower()].discard(rowid)
        self.by_table[row[2].lower()].discard(rowid)


def _row(type_: Any, name: Any, tbl_name: Any, sql: Any) -> SchemaRow:
    """A row as `Snapshot.rows` gives it: whitespace collapsed."""
    return (str(type_), str(name), str(tbl_name), " ".join(str(sql).split()))


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
    it is reported only if its up fails, which stops the replay. With `check`, a checked up
    that fails stops it too; without, the replay goes on past it (see the module docstring).
    """
    rows = rows or {}
    results: list[VerifiedMigration] = []
    with Scratch(migrations_table, track=True) as scratch:
        tracker = scratch.tracker
        assert tracker is not None
        failed = False
        ground: VerifiedMigration | None = None  # the last of an open run of unchecked ones
        for source in sources:
            checked = check is None or source.name in check
            row = rows.get(source.name)
            down = down_for(source, row)
            kind = NONE if down is None else down.source
            if failed:
                if checked:
                    results.append(VerifiedMigration(source.name, SKIPPED, SKIPPED, kind))
                continue
            label = str(source.file.path)
            if not checked:
                # Ground for the checked ones: one transaction for a run of them (a
                # BEGIN/COMMIT each is most of a small migration's cost); the replay stops
                # at a failing one anyway, so rolling them all back loses nothing.
                if ground is None:
                    tracker.pause()
                    scratch.begin()
                ground = VerifiedMigration(source.name, FAILED, SKIPPED, kind)
                try:
                    scratch.statements(source.statements, label)
                except WorktimeError as exc:
                    scratch.rollback()
                    ground, failed = None, True
                    results.append(
                        VerifiedMigration(source.name, FAILED, SKIPPED, kind, exc.message)
                    )
                continue
            if ground is not None:
                failure = _commit_ground(scratch, ground)
                ground = None
                tracker.resume()
                if failure is not None:
                    failed = True
                    results += [failure, VerifiedMigration(source.name, SKIPPED, SKIPPED, kind)]
                    continue
                tracker.refresh()
            error = scratch.run(source.statements, label)
            if error is not None:
                if check is not None:
                    failed = True  # apply: its run stops at this one too
                else:
                    # `run` took it back: again, past what fails, for the ones after it.
                    failures = scratch.run_past_failures(source.statements, label)
                    tracker.refresh()
                    error = "; ".join(dict.fromkeys([error, *failures]))
                results.append(VerifiedMigration(source.name, FAILED, SKIPPED, kind, error))
                continue
            up = tracker.refresh()
            if down is None:
                why = why_irreversible(source, row)
                results.append(VerifiedMigration(source.name, OK, NONE, NONE, why))
            else:
                results.append(_check_down(scratch, source, down.statements, down.label, kind, up))
        if ground is not None and (failure := _commit_ground(scratch, ground)) is not None:
            results.append(failure)
    return results


def _commit_ground(scratch: Scratch, last: VerifiedMigration) -> VerifiedMigration | None:
    """Commit a run of unchecked migrations; on failure, `last` (the one that ended it) with
    the error, as its own COMMIT would have failed."""
    try:
        scratch.commit()
    except WorktimeError as exc:
        scratch.rollback()
        return replace(last, error=exc.message)
    return None


def _check_down(
    scratch: Scratch,
    source: Source,
    down: Sequence[Statement],
    down_label: str,
    kind: str,
    up: _Delta,
) -> VerifiedMigration:
    """Down, then up again, on the schema `up` built; kept when both restore what they must."""
    tracker = scratch.tracker
    assert tracker is not None
    name = source.name
    done: list[_Delta] = []  # the steps to take back from the model if this is rolled back
    scratch.begin()
    try:
        try:
            scratch.statements(down, down_label)
        except WorktimeError as exc:
            return VerifiedMigration(name, OK, FAILED, kind, exc.message)
        undone = tracker.refresh()
        done.append(undone)
        before, restored = _net(up, undone)
        if normalise(before) != normalise(restored):
            return VerifiedMigration(
                name,
                OK,
                DIFFERS,
                kind,
                f"{down_label}: does not restore the schema from before {name}",
                diff(before, restored),
            )
        try:
            scratch.statements(source.statements, str(source.file.path))
        except WorktimeError as exc:
            return VerifiedMigration(
                name, OK, DIFFERS, kind, f"up again after the down SQL fails: {exc.message}"
            )
        redone = tracker.refresh()
        done.append(redone)
        after, again = _net(undone, redone)
        if normalise(after) != normalise(again):
            return VerifiedMigration(
                name,
                OK,
                DIFFERS,
                kind,
                "up again after the down SQL builds another schema",
                diff(after, again),
            )
        # Down then up again left exactly the schema after up: keep it. A rollback would
        # make SQLite re-read the whole schema, once per migration.
        scratch.commit()
        done.clear()
        return VerifiedMigration(name, OK, OK, kind)
    finally:
        # Also when SQLite already rolled back by itself (`INSERT OR ROLLBACK`, a trigger's
        # RAISE(ROLLBACK)): the steps it took back are taken back from the model too.
        scratch.rollback()
        for delta in reversed(done):
            tracker.undo(delta)


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
