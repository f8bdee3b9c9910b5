"""The SQL of a table rebuild, written the D1-safe way: the up and its down.

The up is sqlite-utils' `transform_sql` (new table, copy, drop, rename, indexes), made safe
for D1; the down rebuilds the original table from its original `CREATE TABLE` text,
indexes and triggers. Both read the table from a connection holding the schema the
migrations build (`alter` makes it and checks the pair).

Two traps make that rebuild unsafe on D1 as it stands, and the up and the down close both:
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
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import WorktimeError
from worktime_cli.sqlite.script import quote_identifier

if TYPE_CHECKING:
    from worktime_cli.migrations.alter import AlterSpec  # alter imports this module

KEEP_PREFIX = "_keep_"
_NEW_SUFFIX = "_worktime_new"
_OLD_SUFFIX = "_worktime_old"

_NUMBER = re.compile(r"^[+-]?(?:\d+|\d*\.\d+)$")
_NAME = r'(?:"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATE_HEAD = re.compile(rf"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)({_NAME})", re.I)


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


def declared_types(conn: sqlite3.Connection, table: str) -> dict[str, str]:
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


def up(conn: sqlite3.Connection, spec: AlterSpec, preserved: list[str]) -> list[str]:
    import sqlite_utils

    table = spec.table
    declared = declared_types(conn, table)
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


def down(
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
    back = [c for c in declared_types(conn, table) if c.lower() not in dropped]
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


def header(spec: AlterSpec, preserved: Sequence[str], what: str) -> str:
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
