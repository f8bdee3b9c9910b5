"""`d1 export`: a SQL dump that re-imports cleanly with `execute --file` under foreign keys.

Order: tables (parents before children), then rows, then AUTOINCREMENT counters, then
indexes, views and triggers. Triggers come last so re-importing rows does not fire them.
`PRAGMA defer_foreign_keys` at the top covers cycles the ordering cannot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from worktime_cli import fsutil
from worktime_cli.errors import NotFoundError, WorktimeError
from worktime_cli.sqlite.script import INTERNAL_TABLE_PREFIXES, quote_identifier
from worktime_cli.targets.d1 import ExportResult

__all__ = ["ExportResult", "check_parts", "export", "sql_literal"]


def check_parts(*, data: bool, schema: bool) -> None:
    """The one check of what to dump, for the local and the remote export alike."""
    if not data and not schema:
        raise WorktimeError("--no-data and --no-schema together leave nothing to export")


def export(
    conn: sqlite3.Connection,
    output: Path,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ExportResult:
    """Write the dump of `conn`'s database to `output` atomically (no partial file on failure).

    `on_progress(rows written, rows in all)` every `PROGRESS_ROWS` rows (the count is only
    taken when it is given).

    A FIFO or device (`/dev/stdout`, a pipe) is written into directly, never renamed over
    (`fsutil.atomic_output`).

    `conn` is a D1 connection (`connection.connect`, which `local.export` opens); the caller closes it.
    """
    check_parts(data=data, schema=schema)
    # One read transaction for the whole dump: every SELECT then sees the same snapshot,
    # even while `worktime dev` or `wrangler dev` writes (WAL lets them go on meanwhile).
    conn.execute("BEGIN DEFERRED /* worktime */")
    conn.execute("SELECT count(*) FROM sqlite_master /* worktime */").fetchone()
    output = output.resolve()
    try:
        rows = 0
        with fsutil.atomic_output(output) as raw:
            out = _Utf8(raw)
            names = _ordered_tables(conn, tables)
            out.write("PRAGMA defer_foreign_keys = ON;\n")
            if schema:
                for name in names:
                    (sql,) = conn.execute(
                        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
                    ).fetchone()
                    out.write(f"{sql};\n")
            if data:
                total = _row_count(conn, names) if on_progress is not None else None
                for name in names:
                    for line in _insert_lines(conn, name):
                        out.write(line)
                        rows += 1
                        if on_progress is not None and rows % PROGRESS_ROWS == 0:
                            on_progress(rows, total)
                if on_progress is not None:
                    on_progress(rows, total)
                for line in _sequence_lines(conn, names):
                    out.write(line)
            if schema:
                # A view's tbl_name is the view itself: views come with a full export only.
                for (sql,) in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND ("
                    "(type IN ('index', 'trigger') AND tbl_name IN (SELECT value FROM json_each(?)))"
                    " OR (type = 'view' AND ?)) "
                    "ORDER BY CASE type WHEN 'index' THEN 0 WHEN 'view' THEN 1 ELSE 2 END, rowid",
                    (json.dumps(names), not tables),
                ):
                    out.write(f"{sql};\n")
    finally:
        conn.execute("ROLLBACK /* worktime */")
    return ExportResult(path=output, tables=tuple(names), rows=rows, size=output.stat().st_size)


# Rows between two progress reports: a few a second at dump speed (~400,000 rows/s), not
# one per row.
PROGRESS_ROWS = 50_000


def _row_count(conn: sqlite3.Connection, names: Sequence[str]) -> int:
    """Rows the dump will write (inside its read transaction, so the same snapshot)."""
    return sum(
        int(conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0])
        for name in names
    )


class _Utf8:
    """Text written as UTF-8 into a binary file (no text layer to flush or detach)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def write(self, text: str) -> None:
        self._raw.write(text.encode("utf-8"))


def _ordered_tables(conn: sqlite3.Connection, wanted: Sequence[str]) -> list[str]:
    """User tables, each after the tables its foreign keys reference."""
    all_tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
        )
        if not name.lower().startswith(INTERNAL_TABLE_PREFIXES)
    ]
    missing = [name for name in wanted if name not in all_tables]
    if missing:
        raise NotFoundError(
            f"no table named {', '.join(missing)}",
            hint=f"tables: {', '.join(all_tables) or 'none'}",
        )
    chosen = [name for name in all_tables if not wanted or name in wanted]
    parents = {
        name: {
            row[2]
            for row in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(name)})")
            if row[2] in chosen and row[2] != name
        }
        for name in chosen
    }
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return  # a cycle: defer_foreign_keys handles it
        visiting.add(name)
        for parent in sorted(parents[name]):
            visit(parent)
        visiting.discard(name)
        ordered.append(name)

    for name in chosen:
        visit(name)
    return ordered


def _insert_lines(conn: sqlite3.Connection, table: str) -> Iterator[str]:
    quoted = quote_identifier(table)
    cursor = conn.execute(f"SELECT * FROM {quoted}")
    columns = ",".join(quote_identifier(c[0]) for c in cursor.description)
    prefix = f"INSERT INTO {quoted} ({columns}) VALUES("
    for row in cursor:
        yield prefix + ",".join(map(sql_literal, row)) + ");\n"


def _sequence_lines(conn: sqlite3.Connection, tables: list[str]) -> Iterator[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).fetchone()
    if not exists:
        return
    sequences = dict(conn.execute("SELECT name, seq FROM sqlite_sequence"))
    for name in tables:
        if (seq := sequences.get(name)) is not None:
            yield f"DELETE FROM sqlite_sequence WHERE name = {sql_literal(name)};\n"
            yield f"INSERT INTO sqlite_sequence (name, seq) VALUES({sql_literal(name)},{seq});\n"


def sql_literal(value: object) -> str:
    """A SQL literal that reads back as exactly `value`."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN is stored as NULL by SQLite anyway
            return "NULL"
        if value in (float("inf"), float("-inf")):
            return "9e999" if value > 0 else "-9e999"
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex().upper() + "'"
    text = str(value)
    if "\x00" in text:
        # A literal cannot hold NUL; CAST of the hex keeps the exact text.
        return f"CAST(X'{text.encode().hex().upper()}' AS TEXT)"
    return "'" + text.replace("'", "''") + "'"
