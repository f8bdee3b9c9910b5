"""Schema rows and their comparison: the live user schema vs what the migrations build
(`doctor`), and the rows `verify` compares.

Schemas are compared as `sqlite_master` rows, whitespace collapsed and plain identifiers
unquoted (SQLite writes `"t"` back after a rename round trip: the same table).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from worktime_cli import d1
from worktime_cli.migrations.files import FACTS_SUFFIX, discover, layout, read_sql
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.script import split

SchemaRow = tuple[str, str, str, str]  # (type, name, tbl_name, normalised sql)

_QUOTED_PLAIN = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"')


def normalise(rows: Iterable[SchemaRow]) -> set[SchemaRow]:
    """Rows as compared: whitespace collapsed (`schema_of`), plain identifiers unquoted."""
    return {(t, n.lower(), tbl.lower(), _QUOTED_PLAIN.sub(r"\1", sql)) for t, n, tbl, sql in rows}


def diff(before: Iterable[SchemaRow], after: Iterable[SchemaRow]) -> tuple[str, ...]:
    """`- type name: sql` for rows only in `before`, `+ …` for rows only in `after`."""
    old, new = normalise(before), normalise(after)
    lines = [f"- {t} {n}: {sql}" for t, n, _, sql in sorted(old - new)]
    lines += [f"+ {t} {n}: {sql}" for t, n, _, sql in sorted(new - old)]
    return tuple(lines)


def _normalise_sql(sql: str) -> str:
    return " ".join(sql.split())


def schema_of(conn: sqlite3.Connection, migrations_table: str = "d1_migrations") -> list[SchemaRow]:
    """The user schema as sorted `(type, name, tbl_name, sql)` rows, whitespace-normalised.

    Ignored: the tracking table and our facts table, `sqlite_*` (sqlite_sequence,
    autoindexes) and D1's `_cf_*` internals.
    """
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL /* worktime */"
    ).fetchall()
    return filter_rows(rows, migrations_table)


def filter_rows(
    rows: Iterable[tuple[Any, Any, Any, Any]], migrations_table: str
) -> list[SchemaRow]:
    """`sqlite_master` rows as `schema_of` returns them (for rows read over D1's API too)."""
    ignore = {migrations_table.lower(), (migrations_table + FACTS_SUFFIX).lower()}
    result = []
    for type_, name, tbl_name, sql in rows:
        if sql is None:
            continue
        lowered = (str(name).lower(), str(tbl_name).lower())
        if any(n.startswith(("sqlite_", d1.RESERVED_PREFIX)) or n in ignore for n in lowered):
            continue
        result.append((str(type_), str(name), str(tbl_name), _normalise_sql(str(sql))))
    return sorted(result)


def expected_schema(cfg: Config, db: D1Binding, *, upto: str | None = None) -> list[SchemaRow]:
    """The schema every migration file (or those up to `upto`) builds on an empty database."""
    files = discover(layout(cfg, db), missing_ok=True)
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
