"""`migrations create --alter`: a table rebuild written the D1-safe way, as an up/down pair.

The table is read as the migrations define it: every migration file is replayed into an
in-memory SQLite database (foreign keys on, as always on D1), and sqlite-utils'
`transform_sql` writes the 12-step rebuild for it (new table, copy, drop, rename, indexes).

Two traps make that rebuild unsafe on D1 as it stands, and this module closes both:
- D1 cannot turn foreign keys off, and `PRAGMA defer_foreign_keys = ON` only postpones the
  *check*: `DROP TABLE parent` still runs its children's ON DELETE CASCADE / SET NULL /
  SET DEFAULT actions (workers-sdk #5438). So every table whose rows the drop would change
  (children, their children, …) is copied to `_keep_<table>` first and put back after the
  rename, parents first, with `INSERT OR REPLACE` (a SET NULL child still has its rows).
- `transform_sql` writes declared types through its own mapping (DATETIME becomes REAL); a
  column the user did not `--type` keeps its declared type exactly.
Triggers on the table are dropped with it; they are recreated from their original SQL.
The kept tables' triggers are dropped for the rebuild and recreated after it, so the
cascade's deletes and the restore's inserts do not fire them.

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
from worktime_cli.migrations import files
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.script import quote_identifier, split

KEEP_PREFIX = "_keep_"
_NEW_SUFFIX = "_worktime_new"
_OLD_SUFFIX = "_worktime_old"
_CHANGING = ("CASCADE", "SET NULL", "SET DEFAULT")

# A declared type as SQLite parses one: words, optionally with (n) or (n, m).
_TYPE = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(?: [A-Za-z_][A-Za-z0-9_]*)*(?:\(\s*[+-]?\d+\s*(?:,\s*[+-]?\d+\s*)?\))?$"
)
_NUMBER = re.compile(r"^[+-]?(?:\d+|\d*\.\d+)$")
_NAME = r'(?:"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATE_HEAD = re.compile(rf"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)({_NAME})", re.I)


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


def _q(name: str) -> str:
    return quote_identifier(name)


def _master(conn: sqlite3.Connection, type_: str, table: str) -> list[tuple[str, str]]:
    return [
        (str(n), str(s))
        for n, s in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = ? "
            "AND sql IS NOT NULL ORDER BY rowid",
            (type_, table),
        )
    ]


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


def _declared(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    return {
        str(r[1]): str(r[2]) for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))
    }


def _affinity_type(declared: str) -> str:
    """The sqlite-utils type with `declared`'s affinity (SQLite's rules, section 3.1)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper:
        return "BLOB"
    return "REAL"  # REAL, FLOA, DOUB and NUMERIC: numbers (empty strings become NULL)


def _default(value: str) -> Any:
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value


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


def _fix_types(create: str, keep: dict[str, str]) -> str:
    """`transform_sql`'s CREATE TABLE with each column in `keep` given its declared type back."""
    lines = create.split("\n")
    for i, line in enumerate(lines):
        match = re.match(r'^(   "((?:[^"]|"")*)" )([A-Za-z]+)', line)
        if match is None:
            continue
        name = match.group(2).replace('""', '"')
        if name in keep:
            declared = keep[name]
            lines[i] = (
                match.group(1) + declared + line[match.end() :]
                if declared
                else (match.group(1).rstrip() + line[match.end() :])
            )
    return "\n".join(lines)


def _literal(value: str) -> str:
    if _NUMBER.match(value) or value.upper() in _TIME_KEYWORDS:
        return value
    return "'" + value.replace("'", "''") + "'"


_TIME_KEYWORDS = ("CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME")


def _fill(insert: str, filled: dict[str, str]) -> str:
    """The copy with `coalesce(col, default)` for each column made NOT NULL with a default:
    without it a NULL already in the table makes the new NOT NULL refuse the copy."""
    at = insert.index("\n   SELECT ")
    head, select = insert[:at], insert[at:]
    for column, value in filled.items():
        item = re.compile(
            rf"(NULLIF\({re.escape(_q(column))}, ''\)|{re.escape(_q(column))})(?=, | FROM )"
        )
        found = item.search(select)
        if found is not None:
            filled_sql = f"coalesce({found.group(1)}, {_literal(value)})"
            select = select[: found.start()] + filled_sql + select[found.end() :]
    return head + select


def _quiet(conn: sqlite3.Connection, tables: Sequence[str]) -> list[str]:
    """The kept tables' triggers dropped for the rebuild: the cascade's deletes and the
    restore's inserts are not real changes, and their triggers would act on them (a
    counter bumped twice, an audit row for a delete that did not happen)."""
    return [f"DROP TRIGGER {_q(n)};" for t in tables for n, _ in _master(conn, "trigger", t)]


def _loud(conn: sqlite3.Connection, tables: Sequence[str]) -> list[str]:
    """The kept tables' triggers back, from their original SQL."""
    return [_end(sql) for t in tables for _, sql in _master(conn, "trigger", t)]


def _keep(tables: Sequence[str]) -> list[str]:
    return [f"CREATE TABLE {_q(KEEP_PREFIX + t)} AS SELECT * FROM {_q(t)};" for t in tables]


def _restore(tables: Sequence[str]) -> list[str]:
    restore = [
        f"INSERT OR REPLACE INTO {_q(t)} SELECT * FROM {_q(KEEP_PREFIX + t)};" for t in tables
    ]
    return restore + [f"DROP TABLE {_q(KEEP_PREFIX + t)};" for t in tables]


def _end(sql: str) -> str:
    sql = sql.strip()
    return sql if sql.endswith(";") else sql + ";"


def _up(conn: sqlite3.Connection, spec: AlterSpec, preserved: list[str]) -> list[str]:
    import sqlite_utils

    table = spec.table
    declared = _declared(conn, table)
    types = {col: _affinity_type(t) for col, t in spec.types}
    rename = dict(spec.rename)
    keep_types = {rename.get(c, c): t for c, t in declared.items() if c not in types}
    keep_types.update({rename.get(c, c): t for c, t in spec.types})
    statements = (
        sqlite_utils.Database(conn)
        .table(table)
        .transform_sql(
            types=types or None,
            rename=rename or None,
            drop=set(spec.drop) or None,
            not_null=set(spec.not_null) or None,
            defaults={c: _default(v) for c, v in spec.defaults} or None,
            tmp_suffix=_NEW_SUFFIX,
        )
    )
    out = ["PRAGMA defer_foreign_keys = ON;", *_keep(preserved), *_quiet(conn, preserved)]
    defaults = dict(spec.defaults)
    filled = {c: defaults[c] for c in spec.not_null if c in defaults}
    for statement in statements:
        if statement.lstrip().upper().startswith("CREATE TABLE"):
            statement = _fix_types(statement, keep_types)
        elif statement.lstrip().upper().startswith("INSERT INTO") and filled:
            statement = _fill(statement, filled)
        out.append(_end(statement))
    out += _restore(preserved)
    out += _loud(conn, preserved)
    out += [_end(sql) for _, sql in _master(conn, "trigger", table)]
    return out


def _down(
    conn: sqlite3.Connection, spec: AlterSpec, preserved: list[str], original: str
) -> list[str]:
    """The original table back: its CREATE TABLE text, indexes and triggers, as they were."""
    table = spec.table
    old = table + _OLD_SUFFIX
    head = _CREATE_HEAD.match(original)
    if head is None:
        raise WorktimeError(f"cannot read the CREATE TABLE statement of {table}")
    create = original[: head.start(2)] + _q(old) + original[head.end(2) :]
    rename = dict(spec.rename)
    dropped = {d.lower() for d in spec.drop}
    back = [c for c in _declared(conn, table) if c.lower() not in dropped]
    out = ["PRAGMA defer_foreign_keys = ON;", *_keep(preserved), *_quiet(conn, preserved)]
    out.append(_end(create))
    if back:
        # rowid too: a table without INTEGER PRIMARY KEY keeps its row ids, as the up does.
        into = ", ".join(["rowid", *(_q(c) for c in back)])
        select = ", ".join(["rowid", *(_q(rename.get(c, c)) for c in back)])
        out.append(f"INSERT INTO {_q(old)} ({into})\n   SELECT {select} FROM {_q(table)};")
    out += [
        f"DROP TABLE {_q(table)};",
        "PRAGMA legacy_alter_table=ON;",
        f"ALTER TABLE {_q(old)} RENAME TO {_q(table)};",
        "PRAGMA legacy_alter_table=OFF;",
    ]
    out += [_end(sql) for _, sql in _master(conn, "index", table)]
    out += _restore(preserved)
    out += _loud(conn, preserved)
    out += [_end(sql) for _, sql in _master(conn, "trigger", table)]
    return out


def _header(spec: AlterSpec, preserved: Sequence[str], what: str) -> str:
    lines = [
        f"-- {what} of table {spec.table}, written by `worktime d1 migrations create --alter`."
    ]
    if preserved:
        lines.append(
            f"-- D1 cannot turn foreign keys off: DROP TABLE {spec.table} would change the rows of "
            f"{', '.join(preserved)}"
        )
        lines.append(
            "-- (ON DELETE actions run even under defer_foreign_keys), so they are copied to "
            f"{KEEP_PREFIX}<table> and put back."
        )
    return "\n".join(lines) + "\n"


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
        spec = AlterSpec(str(found[0]), *_canonical(spec, _declared(conn, str(found[0]))))
        _check(spec, _declared(conn, spec.table))
        preserved = _affected(conn, spec.table)
        # The down first: it is read off the original table, which the up's replay replaces.
        down = _down(conn, spec, preserved, str(found[1]))
        up = _up(conn, spec, preserved)
    finally:
        conn.close()
    result = AlterSQL(
        spec.table,
        _header(spec, preserved, "Rebuild") + "\n".join(up) + "\n",
        _header(spec, preserved, "Rollback of the rebuild") + "\n".join(down) + "\n",
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
