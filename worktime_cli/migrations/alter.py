"""`migrations create --alter`: a table rebuild written the D1-safe way, as an up/down pair.

The table is read as the migrations define it: every migration file is replayed into an
in-memory SQLite database (foreign keys on, as always on D1), and sqlite-utils'
`transform_sql` writes the 12-step rebuild for it (new table, copy, drop, rename, indexes).

The rebuild's SQL is `rebuild`; this module reads the table, checks the options against it,
and writes the pair once it is verified.

The down file rebuilds the original table from its original `CREATE TABLE` text, indexes
and triggers, so `migrations verify` sees the schema restored. Before anything is written,
the pair is replayed on the migrations (up, down, up) and must restore the schema.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worktime_cli.errors import UsageError, WorktimeError
from worktime_cli.migrations import files, rebuild
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.script import split

_CHANGING = ("CASCADE", "SET NULL", "SET DEFAULT")

# A declared type as SQLite parses one: words, optionally with (n) or (n, m).
_TYPE = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(?: [A-Za-z_][A-Za-z0-9_]*)*(?:\(\s*[+-]?\d+\s*(?:,\s*[+-]?\d+\s*)?\))?$"
)


@dataclass(frozen=True)
class AlterSpec:
    """What to change in `table`: each option as given on the command line, parsed."""

    table: str
    types: tuple[tuple[str, str], ...] = ()
    drop: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    not_null: tuple[str, ...] = ()
    defaults: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.types or self.drop or self.rename or self.not_null or self.defaults)


def pairs(values: Sequence[str], option: str) -> tuple[tuple[str, str], ...]:
    """`COL=VALUE` options as pairs; a value without `=` or an empty side is a usage error."""
    found = []
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise UsageError(
                f"{option} {value!r}: expected COL=VALUE",
                hint=f"e.g. {option} email=TEXT",
            )
        found.append((left.strip(), right.strip()))
    return tuple(found)


@dataclass(frozen=True)
class AlterSQL:
    """The rebuild's up and down SQL; `preserved`: tables whose rows are kept across the drop."""

    table: str
    up: str
    down: str
    preserved: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "preserved": list(self.preserved)}


@dataclass(frozen=True)
class CreatedAlter:
    name: str
    path: Path
    down_path: Path
    table: str
    preserved: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "down_path": str(self.down_path),
            "table": self.table,
            "preserved": list(self.preserved),
        }


def _replay(cfg: Config, db: D1Binding) -> sqlite3.Connection:
    """The schema the migrations build, in a plain in-memory database with foreign keys on."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for source in files.read_all(files.discover(files.layout(cfg, db), missing_ok=True)):
        for statement in source.statements:
            try:
                conn.execute(statement.sql)
            except sqlite3.Error as exc:
                conn.close()
                raise WorktimeError(
                    f"{source.file.path}:{statement.line}: the migrations do not replay: {exc}",
                    hint="run `worktime d1 migrations verify` and fix that migration first",
                ) from None
    return conn


def _affected(conn: sqlite3.Connection, parent: str) -> list[str]:
    """Tables whose rows a DELETE of `parent`'s rows changes, transitively, parents first."""
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
        )
    ]
    order: list[str] = []
    todo = [parent]
    while todo:
        current = todo.pop(0)
        for table in tables:
            if table == parent or table in order:
                continue
            for row in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,)):
                # (id, seq, table, from, to, on_update, on_delete, match)
                if str(row[2]).lower() == current.lower() and str(row[6]).upper() in _CHANGING:
                    order.append(table)
                    todo.append(table)
                    break
    return order


def _check(spec: AlterSpec, columns: dict[str, str]) -> None:
    known = {c.lower(): c for c in columns}

    def column(name: str, option: str) -> None:
        if name.lower() not in known:
            raise UsageError(
                f"{option} {name!r}: table {spec.table} has no column {name!r}",
                hint=f"its columns are: {', '.join(columns)}",
            )

    for name, type_ in spec.types:
        column(name, "--type")
        if not _TYPE.match(type_):
            raise UsageError(
                f"--type {name}={type_!r}: not a column type",
                hint="e.g. --type amount=INTEGER (TEXT, INTEGER, REAL, BLOB, NUMERIC, DATETIME, …)",
            )
    for name in spec.drop:
        column(name, "--drop")
    renamed = set()
    for old, new in spec.rename:
        column(old, "--rename")
        if new.lower() in known and new.lower() != old.lower():
            raise UsageError(
                f"--rename {old}={new!r}: table {spec.table} already has a column {new!r}",
                hint="pick a name the table does not use",
            )
        renamed.add(old.lower())
    for name in spec.not_null:
        column(name, "--not-null")
    for name, _ in spec.defaults:
        column(name, "--default")
    dropped = {d.lower() for d in spec.drop}
    for name in [
        *(n for n, _ in spec.types),
        *spec.not_null,
        *(n for n, _ in spec.defaults),
        *renamed,
    ]:
        if name.lower() in dropped:
            raise UsageError(
                f"--drop {name!r}: the column is also changed by another option",
                hint="drop it, or change it, not both",
            )


def rebuild_sql(cfg: Config, db: D1Binding, spec: AlterSpec) -> AlterSQL:
    """The up/down SQL of `spec`'s rebuild, checked by replaying up, down and up again."""
    if spec.empty:
        raise UsageError(
            f"--alter {spec.table}: nothing to change",
            hint="add --type COL=TYPE, --drop COL, --rename OLD=NEW, --not-null COL or "
            "--default COL=VALUE",
        )
    conn = _replay(cfg, db)
    try:
        found = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)",
            (spec.table,),
        ).fetchone()
        if found is None:
            names = [
                str(r[0])
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            ]
            raise UsageError(
                f"--alter {spec.table!r}: the migrations define no table {spec.table!r}",
                hint=f"tables: {', '.join(names)}" if names else "the migrations create no table",
            )
        spec = AlterSpec(
            str(found[0]), *_canonical(spec, rebuild.declared_types(conn, str(found[0])))
        )
        _check(spec, rebuild.declared_types(conn, spec.table))
        preserved = _affected(conn, spec.table)
        # The down first: it is read off the original table, which the up's replay replaces.
        down = rebuild.down(conn, spec, preserved, str(found[1]))
        up = rebuild.up(conn, spec, preserved)
    finally:
        conn.close()
    result = AlterSQL(
        spec.table,
        rebuild.header(spec, preserved, "Rebuild") + "\n".join(up) + "\n",
        rebuild.header(spec, preserved, "Rollback of the rebuild") + "\n".join(down) + "\n",
        tuple(preserved),
    )
    _verify(cfg, db, result)
    return result


def _canonical(spec: AlterSpec, columns: dict[str, str]) -> tuple[Any, ...]:
    """Column names spelled as the table spells them (SQLite's names are case-insensitive)."""
    known = {c.lower(): c for c in columns}

    def name(n: str) -> str:
        return known.get(n.lower(), n)

    return (
        tuple((name(c), t) for c, t in spec.types),
        tuple(name(c) for c in spec.drop),
        tuple((name(o), n) for o, n in spec.rename),
        tuple(name(c) for c in spec.not_null),
        tuple((name(c), v) for c, v in spec.defaults),
    )


def _verify(cfg: Config, db: D1Binding, result: AlterSQL) -> None:
    """Up, down, up on the migrations' schema, under D1's rules (`scratch.Scratch`)."""
    from worktime_cli.migrations.scratch import Scratch, same, snap

    with Scratch(db.migrations_table) as scratch:
        sources = files.read_all(files.discover(files.layout(cfg, db), missing_ok=True))
        for source in sources:
            error = scratch.run(source.statements, str(source.file.path))
            if error is not None:
                raise WorktimeError(f"the migrations do not replay: {error}")
        before = snap(scratch)
        _step(scratch, result.up, "up")
        after = snap(scratch)
        _step(scratch, result.down, "down")
        if not same(snap(scratch), before):
            raise WorktimeError(
                f"the generated down SQL of {result.table} does not restore the schema"
            )
        _step(scratch, result.up, "up")
        if not same(snap(scratch), after):
            raise WorktimeError(
                f"the generated up SQL of {result.table} builds another schema after its down"
            )


def _step(scratch: Any, sql: str, what: str) -> None:
    error = scratch.run(split(sql, f"the generated {what}"), f"the generated {what}")
    if error is not None:
        raise WorktimeError(
            f"the generated {what} SQL fails on the schema the migrations build: {error}",
            hint="a trigger or index may use a column this change drops or renames; "
            "write this migration by hand",
        )


def create(cfg: Config, db: D1Binding, message: str, spec: AlterSpec) -> CreatedAlter:
    """Write the next numbered migration holding `spec`'s rebuild, and its down file.

    The SQL is made (and checked) before any file is written: a bad option changes nothing.
    """
    sql = rebuild_sql(cfg, db, spec)
    created = files.create(cfg, db, message)
    header = created.path.read_text(encoding="utf-8")
    from worktime_cli.fsutil import write_atomic

    write_atomic(created.path, (header + sql.up).encode("utf-8"))
    write_atomic(created.down_path, sql.down.encode("utf-8"))
    return CreatedAlter(created.name, created.path, created.down_path, sql.table, sql.preserved)
