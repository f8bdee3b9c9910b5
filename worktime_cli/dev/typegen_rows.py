"""Row types: one `type <Table>Row` per table the D1 migrations create.

The migrations are replayed into an in-memory SQLite database (no local state needed) and read
back with sqlite-utils' introspection; a column's type follows SQLite's affinity rules, or the
literals of a `CHECK (col IN (…))` constraint.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli.dev.typegen_env import ENV_INTERFACE, as_list
from worktime_cli.errors import WorktimeError
from worktime_cli.project.bindings import d1_binding
from worktime_cli.project.config import Config, D1Binding

# `CHECK (status IN ('a', 'b'))`, as a column or table constraint; nothing else in the parens.
_CHECK_IN = re.compile(
    r"""CHECK\s*\(\s*["`\[]?(?P<column>\w+)["`\]]?\s+IN\s*\((?P<items>[^()]*)\)\s*\)""",
    re.IGNORECASE,
)
_STRING_LITERAL = re.compile(r"\s*'((?:[^']|'')*)'\s*")
_NUMBER_LITERAL = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*")
# Declared types SQLite gives NUMERIC affinity that, in practice, hold ISO-8601 text:
# CURRENT_TIMESTAMP / datetime('now') write '2025-01-01 12:00:00', which NUMERIC affinity
# cannot convert to a number, so SQLite keeps (and D1 returns) a string.
_DATE_TYPES = re.compile(r"DATE|TIME", re.IGNORECASE)


@dataclass(frozen=True)
class RowColumn:
    name: str
    type: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class RowType:
    """`type UsersRow = {…}`: one table of one D1 database's migrations."""

    name: str
    table: str
    binding: str
    columns: tuple[RowColumn, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "binding": self.binding,
            "columns": [c.to_json() for c in self.columns],
        }


def row_types(cfg: Config, sections: Iterable[Mapping[str, Any]]) -> tuple[RowType, ...]:
    """A row type per table the migrations of each D1 database (in `sections`) create."""
    rows: list[RowType] = []
    taken: set[str] = {ENV_INTERFACE}
    replayed: set[tuple[tuple[str, Path], ...]] = set()
    for section in sections:
        for index, entry in enumerate(as_list(section.get("d1_databases"))):
            if not isinstance(entry, dict) or not isinstance(entry.get("binding"), str):
                continue
            binding = d1_binding(cfg.path, index, entry)
            found = migration_files(cfg, binding)
            if found in replayed:  # two bindings sharing one set of migrations: one set of types
                continue
            replayed.add(found)
            for table, columns in _replay(found):
                name = _type_name(table, binding.binding, taken)
                taken.add(name)
                rows.append(
                    RowType(name=name, table=table, binding=binding.binding, columns=columns)
                )
    return tuple(rows)


def migration_files(cfg: Config, binding: D1Binding) -> tuple[tuple[str, Path], ...]:
    """The up migrations wrangler would apply for `binding`, in its order (its
    `migrations_pattern`, numbers compared as numbers, symlinked files skipped): each one's
    name as wrangler records it (`0002_x/migration.sql` under a pattern) and its file."""
    from worktime_cli.migrations import files

    layout = files.layout(cfg, binding)
    return tuple((m.name, m.path.resolve()) for m in files.discover(layout, missing_ok=True))


def _replay(
    migrations: Iterable[tuple[str, Path]],
) -> Iterable[tuple[str, tuple[RowColumn, ...]]]:
    import sqlite_utils

    conn = sqlite3.connect(":memory:")
    try:
        for name, path in migrations:
            try:
                sql = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise WorktimeError(f"cannot read migration {path}: {exc}") from None
            try:
                conn.executescript(sql)
            except sqlite3.Error as exc:
                raise WorktimeError(
                    f"{name}: {exc} (while replaying the migrations to read the tables)",
                    hint="fix the migration; `worktime d1 migrations apply` would fail the same way",
                ) from None
        db = sqlite_utils.Database(conn)
        result = []
        for table_name in db.table_names():
            if table_name.startswith(("sqlite_", "_cf_")):
                continue  # SQLite's and Cloudflare's own tables
            table = db.table(table_name)
            checks = _check_literals(table.schema)
            columns = tuple(
                RowColumn(column.name, _column_type(column, checks.get(column.name.lower())))
                for column in table.columns
            )
            result.append((table_name, columns))
        return result
    finally:
        conn.close()


def _column_type(column: Any, literals: str | None) -> str:
    base = literals or _affinity_type(column.type or "")
    # A primary key is non-null for us: INTEGER PRIMARY KEY is the rowid, and D1 rows with a
    # NULL key in another PRIMARY KEY column are a legacy SQLite quirk nobody relies on.
    if column.notnull or column.is_pk or base == "unknown":
        return base
    return f"{base} | null"


def _affinity_type(declared: str) -> str:
    """SQLite's affinity rules (datatype3.html §3.1), in their order, as a TypeScript type."""
    upper = declared.upper()
    if "INT" in upper:
        return "number"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "string"
    if "BLOB" in upper:
        return "number[]"  # D1 returns a BLOB as an array of byte values
    if not upper:
        return "unknown"  # no declared type: BLOB affinity, any value is stored as given
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "number"
    if _DATE_TYPES.search(upper):
        return "string"
    return "number"  # NUMERIC affinity: DECIMAL, BOOLEAN (0/1), NUMERIC


def _check_literals(schema: str) -> dict[str, str]:
    """Column (lower-case) → a union of literals, from `CHECK (col IN (…))` constraints."""
    found: dict[str, str] = {}
    for match in _CHECK_IN.finditer(schema):
        literals: list[str] = []
        for item in _split_items(match.group("items")):
            if string := _STRING_LITERAL.fullmatch(item):
                literals.append(json.dumps(string.group(1).replace("''", "'"), ensure_ascii=False))
            elif number := _NUMBER_LITERAL.fullmatch(item):
                literals.append(number.group(1))
            else:
                break  # an expression we do not model: keep the affinity type
        else:
            if literals:
                found[match.group("column").lower()] = " | ".join(dict.fromkeys(literals))
    return found


def _split_items(text: str) -> list[str]:
    """Split `'a', 'b,c'` at commas outside quotes."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted  # '' toggles twice: stays inside the literal
        if char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def _type_name(table: str, binding: str, taken: set[str]) -> str:
    """`time_sessions` → `TimeSessionsRow`; a clash (another database) gets the binding first."""
    name = _pascal(table) + "Row"
    if name in taken:
        name = _pascal(binding) + name
    base, n = name, 2
    while name in taken:
        name = f"{base}{n}"
        n += 1
    return name


def _pascal(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Table"
    return name if name[0].isalpha() else "T" + name
