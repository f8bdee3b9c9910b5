"""D1's storage and time limits, checked before they bite: database size, row size, long rewrites.

The per-statement limits (100,000 bytes of SQL, 100 bound parameters, 100 columns) are
enforced on every local connection by `worktime_cli.d1.rules.LIMITS` and by the script splitter
(`sqlscript.MAX_STATEMENT_BYTES`); this module holds the ones a connection cannot enforce:

- **Database size**: D1 caps one database at 10 GB on the Workers Paid plan and 500 MB on
  the Free plan (Cloudflare's D1 limits page). `size_check` takes the cap as a parameter,
  the paid value by default; pass `FREE_DATABASE_CAP` for a free account. A database over
  `WARN_FRACTION` of its cap is a warning, over the cap an error: D1 refuses writes there.
- **Row size**: a string, BLOB or table row is at most 2,000,000 bytes on D1. `largest_row`
  finds the biggest row of each table (the sum of its values' byte lengths, which is what
  D1 counts closely enough to warn; SQLite's record header adds a few bytes per column).
- **Query time**: one D1 query may run for at most 30 seconds. A migration that rewrites a
  big table in one statement (the 12-step rebuild's `INSERT INTO new SELECT … FROM old`,
  an UPDATE or DELETE without WHERE, a CREATE INDEX) may exceed it; `rewrite_warnings`
  names those statements with batching advice. The rows-per-second rate behind the
  estimate is a deliberately cautious guess (`REWRITE_ROWS_PER_SECOND`), not a measurement
  of D1: the warning says "likely", never "will".

Everything reads through a query function `Callable[[str], list[dict]]` (a local
connection's rows, or remote D1's `/query` rows), so local and remote share every check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worktime_cli.d1.schemadiff import QueryFn
from worktime_cli.sqlite.script import INTERNAL_TABLE_PREFIXES, Statement, quote_identifier

PAID_DATABASE_CAP = 10_000_000_000  # 10 GB, Workers Paid
FREE_DATABASE_CAP = 500_000_000  # 500 MB, Workers Free
MAX_ROW_BYTES = 2_000_000  # largest string, BLOB or row
QUERY_TIME_LIMIT_SECONDS = 30
WARN_FRACTION = 0.8
# Rows one rewriting statement is assumed to move per second on D1: cautious on purpose (a
# rebuild copies every row and rebuilds every index), so the warning comes early.
REWRITE_ROWS_PER_SECOND = 50_000

OK = "ok"
WARNING = "warning"
ERROR = "error"

BATCHING_ADVICE = (
    "split the rewrite into batches that each finish well under D1's 30-second query limit: "
    "copy by key ranges (`INSERT INTO new SELECT … FROM old WHERE id > :last ORDER BY id "
    "LIMIT 10000`, repeated), or UPDATE/DELETE with `WHERE id BETWEEN …` chunks, each its "
    "own statement; run the batches with `worktime d1 execute --remote --file` before the "
    "migration that switches the schema"
)


@dataclass(frozen=True)
class SizeCheck:
    """A database's size against D1's per-database cap; `level` ok | warning | error."""

    size: int
    cap: int

    @property
    def fraction(self) -> float:
        return self.size / self.cap if self.cap else 0.0

    @property
    def level(self) -> str:
        if self.size > self.cap:
            return ERROR
        return WARNING if self.fraction >= WARN_FRACTION else OK

    def message(self) -> str:
        text = f"{self.size:,} bytes of D1's {self.cap:,}-byte cap ({self.fraction:.1%})"
        if self.level == ERROR:
            return text + ": over the cap, D1 refuses writes to this database"
        if self.level == WARNING:
            return text + ": close to the cap"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "cap": self.cap,
            "fraction": round(self.fraction, 6),
            "level": self.level,
        }


def size_check(size: int, cap: int = PAID_DATABASE_CAP) -> SizeCheck:
    """`size` bytes against the cap (the paid plan's 10 GB unless told otherwise)."""
    return SizeCheck(size, cap)


@dataclass(frozen=True)
class LargestRow:
    """The biggest row of `table` (by the byte length of its values), against D1's 2 MB."""

    table: str
    rowid: int | None  # None for a WITHOUT ROWID table
    size: int
    limit: int = MAX_ROW_BYTES

    @property
    def level(self) -> str:
        if self.size > self.limit:
            return ERROR
        return WARNING if self.size >= self.limit * WARN_FRACTION else OK

    def message(self) -> str:
        where = self.table if self.rowid is None else f"{self.table} rowid {self.rowid}"
        return f"largest row {where}: {self.size:,} bytes of D1's {self.limit:,}"

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rowid": self.rowid,
            "size": self.size,
            "limit": self.limit,
            "level": self.level,
        }


def user_tables(query: QueryFn) -> list[str]:
    """User tables (not SQLite's or D1's internal ones), in `sqlite_master` order."""
    rows = query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")
    return [
        str(r["name"])
        for r in rows
        if not str(r["name"]).lower().startswith(INTERNAL_TABLE_PREFIXES)
    ]


def largest_rows(query: QueryFn, tables: Iterable[str] | None = None) -> list[LargestRow]:
    """The biggest row of each table, biggest first. Reads every row: on remote D1 that is
    billed as rows read, so `d1 info` asks for it only when told to."""
    found: list[LargestRow] = []
    for table in user_tables(query) if tables is None else tables:
        columns = [str(r["name"]) for r in query(f"PRAGMA table_info({quote_identifier(table)})")]
        if not columns:
            continue
        size = " + ".join(
            f"coalesce(length(CAST({quote_identifier(c)} AS BLOB)), 0)" for c in columns
        )
        without_rowid = _without_rowid(query, table)
        key = "NULL" if without_rowid else "rowid"
        rows = query(
            f"SELECT {key} AS k, {size} AS s FROM {quote_identifier(table)} ORDER BY s DESC LIMIT 1"
        )
        if rows:
            key_value = rows[0]["k"]
            found.append(
                LargestRow(table, None if key_value is None else int(key_value), int(rows[0]["s"]))
            )
    return sorted(found, key=lambda r: -r.size)


def _without_rowid(query: QueryFn, table: str) -> bool:
    rows = query(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = "
        + "'"
        + table.replace("'", "''")
        + "'"
    )
    sql = str(rows[0]["sql"] or "") if rows else ""
    return re.search(r"\)\s*WITHOUT\s+ROWID\s*$", sql, re.I) is not None


@dataclass(frozen=True)
class RewriteWarning:
    """A statement that rewrites `table` (rows before it) and may exceed D1's query time."""

    file: str
    line: int
    table: str
    rows: int
    estimated_seconds: float
    what: str  # copy | update | delete | index

    def message(self) -> str:
        return (
            f"{self.file}:{self.line}: this {self.what} rewrites {self.table} ({self.rows:,} rows, "
            f"~{self.estimated_seconds:.0f} s at {REWRITE_ROWS_PER_SECOND:,} rows/s): likely over "
            f"D1's {QUERY_TIME_LIMIT_SECONDS}-second query limit"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "table": self.table,
            "rows": self.rows,
            "estimated_seconds": round(self.estimated_seconds, 1),
            "what": self.what,
            "message": self.message(),
            "advice": BATCHING_ADVICE,
        }


_NAME = r'("(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_$]*)'
_REWRITES = (
    (
        "copy",
        re.compile(rf"^INSERT\b.*?\bSELECT\b.*?\bFROM\s+(?:main\s*\.\s*)?{_NAME}", re.I | re.S),
    ),
    ("update", re.compile(rf"^UPDATE\s+(?:OR\s+\w+\s+)?(?:main\s*\.\s*)?{_NAME}", re.I)),
    ("delete", re.compile(rf"^DELETE\s+FROM\s+(?:main\s*\.\s*)?{_NAME}", re.I)),
    (
        "index",
        re.compile(
            rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON\s+{_NAME}", re.I
        ),
    ),
)
_WHERE = re.compile(r"\bWHERE\b", re.I)


def _unquote(name: str) -> str:
    if name[0] in '"`[':
        return name[1:-1].replace('""', '"') if name[0] == '"' else name[1:-1]
    return name


def rewrite_warnings(
    file: str,
    statements: Iterable[Statement],
    row_counts: Mapping[str, int],
    *,
    rows_per_second: float = REWRITE_ROWS_PER_SECOND,
    limit_seconds: float = QUERY_TIME_LIMIT_SECONDS,
) -> list[RewriteWarning]:
    """Statements of a migration that rewrite a table big enough to likely pass D1's 30 s.

    `row_counts` are the tables' rows before the migration (names case-insensitive). An
    UPDATE or DELETE with a WHERE is taken as already batched; a copy (`INSERT … SELECT`)
    counts the rows of the table it reads. The estimate is rows / `rows_per_second`.
    """
    counts = {name.lower(): rows for name, rows in row_counts.items()}
    found: list[RewriteWarning] = []
    for statement in statements:
        sql = statement.sql.lstrip()
        for what, pattern in _REWRITES:
            match = pattern.match(sql)
            if match is None:
                continue
            if what in ("update", "delete") and _WHERE.search(sql):
                break
            table = _unquote(match.group(1))
            rows = counts.get(table.lower(), 0)
            seconds = rows / rows_per_second
            if seconds > limit_seconds:
                found.append(RewriteWarning(file, statement.line, table, rows, seconds, what))
            break
    return found


@dataclass(frozen=True)
class InfoLimits:
    """`d1 info`'s limits: the size against the cap, the largest row against 2 MB.

    `largest_row` is None when it was not read (`checked` False: remote D1 bills every row
    the scan reads, so it is asked for; a table-less database has none either).
    """

    size: SizeCheck | None
    largest_row: LargestRow | None
    checked: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "size": None if self.size is None else self.size.to_json(),
            "largest_row": None if self.largest_row is None else self.largest_row.to_json(),
            "largest_row_checked": self.checked,
        }


def info_limits(
    size: int | None, query: QueryFn | None, *, cap: int = PAID_DATABASE_CAP
) -> InfoLimits:
    """The limits of a database of `size` bytes; its rows are read only when `query` is given."""
    rows = largest_rows(query) if query is not None else []
    return InfoLimits(
        None if size is None else size_check(size, cap),
        rows[0] if rows else None,
        query is not None,
    )
