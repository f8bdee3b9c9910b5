"""The scratch's `sqlite_master` as a Python model, re-read only where a step changed it.

Speed: a replay of n migrations must not read the whole schema at each step (n² rows). The
scratch keeps `sqlite_master` as a Python model (`Tracker`) and, after each step, re-reads
only the rows that step could have changed: what SQLite's authorizer saw it create or drop
(by name, and every row of a dropped table), plus the rows past the last untouched rowid
(SQLite gives a new row max(rowid)+1). A step the authorizer cannot pin down (ALTER, virtual
tables, a write to sqlite_master, a schema cookie that moved unseen) re-reads every row.
Schemas are then compared on the rows one of the two steps changed: the rest is the same row.
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass
from typing import Any

from worktime_cli import d1
from worktime_cli.migrations.schema import SchemaRow

# The rows compared, as `scratch._FINGERPRINT` selects them.
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
class Delta:
    """One step's change to sqlite_master by rowid: `removed` holds the rows as they were,
    `added` as they are (a changed row is in both)."""

    removed: _Rows
    added: _Rows
    version: int  # the schema cookie before the step

    def rowids(self) -> set[int]:
        return self.removed.keys() | self.added.keys()


def net(first: Delta, second: Delta) -> tuple[list[SchemaRow], list[SchemaRow]]:
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


class Tracker:
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

    def refresh(self) -> Delta:
        """Bring the model up to the connection's schema; what changed since the last call."""
        version = self._version()
        before = self.version
        names, tables, unpinned = self.names, self.tables, self.unpinned
        self.forget_pending()
        if not (names or tables or unpinned):
            if version == before:
                return Delta({}, {}, before)
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

    def _reload(self, before: int | None = None) -> Delta:
        rows = self.conn.execute(_ROWS + " /* worktime */").fetchall()
        now = {rowid: _row(t, n, tbl, sql) for rowid, t, n, tbl, sql in rows}
        return self._apply(dict(self.rows), now, self.version if before is None else before)

    def _apply(self, removed: _Rows, added: _Rows, version: int) -> Delta:
        for rowid in removed.keys() & added.keys():
            if removed[rowid] == added[rowid]:
                del removed[rowid], added[rowid]
        for rowid in removed:
            self._drop(rowid)
        for rowid, row in added.items():
            self._add(rowid, row)
        return Delta(removed, added, version)

    def undo(self, delta: Delta) -> None:
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
    """A row as `scratch.Snapshot.rows` gives it: whitespace collapsed."""
    return (str(type_), str(name), str(tbl_name), " ".join(str(sql).split()))
