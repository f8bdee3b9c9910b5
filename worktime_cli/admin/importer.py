"""`d1 import`: rows from CSV, TSV, JSON or newline-delimited JSON into an existing table.

Locally the rows go through sqlite-utils' `insert_all`/`upsert_all` on worktime's own D1
connection (foreign keys on, D1's 100-parameter limit), in one transaction: all or nothing.
sqlite-utils' plugin hooks and its `recursive_triggers` pragma are off, so nothing runs that
D1 would not run. sqlite-utils nests each batch in a SAVEPOINT of our transaction; when a
batch fails, its rows are retried one by one inside the still-open transaction to name the
failing row, then everything is rolled back.

Remotely the same rows become multi-row INSERT (or upsert) statements within D1's limits
(100 bound parameters, 100 KB of SQL), sent as batches; each batch is atomic on D1, but a
failure leaves earlier batches applied, and the message says how many rows that is.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from worktime_cli.admin.targets import Database, Statement
from worktime_cli.errors import NotFoundError, SQLError, UsageError, WorktimeError

FORMATS = ("csv", "tsv", "json", "nl")
MAX_PARAMS = 100  # D1's limit on bound parameters per statement
MAX_SQL_BYTES = 90_000  # under D1's 100 KB statement limit, with room for the column list
STATEMENTS_PER_REQUEST = 200
# wrangler's default ledger, refused whatever the config names: another tool may use it.
DEFAULT_LEDGER = ("d1_migrations", "d1_migrations_worktime")


@dataclass(frozen=True)
class ImportResult:
    table: str
    rows: int
    dry_run: bool
    upsert: bool
    columns: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "mode": "upsert" if self.upsert else "insert",
            "columns": list(self.columns),
        }


def detect_format(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    suffix = path.suffix.lower().lstrip(".")
    return {
        "csv": "csv",
        "tsv": "tsv",
        "tab": "tsv",
        "json": "json",
        "nl": "nl",
        "jsonl": "nl",
        "ndjson": "nl",
    }.get(suffix, "csv")


def read_rows(path: Path, fmt: str) -> tuple[list[str], Iterator[list[Any]]]:
    """(columns, rows as lists in column order). CSV/TSV values stay text: column affinity
    converts them as SQLite (and D1) would for the same text."""
    import stat

    try:
        # A regular file only: a device (/dev/zero) or a FIFO has no end to read up to, and a
        # line without end would grow without bound.
        if not stat.S_ISREG(path.stat().st_mode):
            raise WorktimeError(
                f"cannot import {path}: not a regular file", hint="give a CSV, TSV or JSON file"
            )
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise NotFoundError(f"cannot read {path}: {exc.strerror}") from None
    if fmt in ("csv", "tsv"):
        reader = csv.reader(handle, delimiter="\t" if fmt == "tsv" else ",")
        try:
            header = next(reader)
        except StopIteration:
            handle.close()
            return [], iter(())
        width = len(header)

        def csv_rows() -> Iterator[list[Any]]:
            with handle:
                for number, row in enumerate(reader, 1):
                    if len(row) != width:
                        raise WorktimeError(
                            f"{path.name}: row {number} has {len(row)} fields, the header {width}"
                        )
                    yield [None if v == "" else v for v in row]

        return header, csv_rows()
    with handle:
        text = handle.read()
    records: list[Any]
    try:
        if fmt == "json":
            records = json.loads(text)
            if not isinstance(records, list):
                raise WorktimeError(f"{path.name}: expected a JSON array of objects")
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise WorktimeError(f"{path.name}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise WorktimeError(f"{path.name}: JSON nested too deeply for a row") from None
    columns: list[str] = []
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise WorktimeError(f"{path.name}: row {number} is not a JSON object")
        columns.extend(k for k in record if k not in columns)

    def json_rows() -> Iterator[list[Any]]:
        for record in records:
            yield [_json_value(record.get(c)) for c in columns]

    return columns, json_rows()


def _json_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def check_target(table: str, ledger: Collection[str] = ()) -> None:
    """Refuse the tables no import may write: the migrations ledger (a row there decides what
    `migrations apply` skips and what SQL `migrations rollback` runs) and the engines' own.

    Names are compared as SQLite does, without regard to ASCII case.
    """
    lowered = table.lower()
    if lowered in {name.lower() for name in (*DEFAULT_LEDGER, *ledger)}:
        why = (
            "it is the migrations ledger, the record of which migrations ran and the SQL that "
            "undoes them"
        )
        hint = (
            "record migrations with `worktime d1 migrations apply` or `mark-applied`; a repair "
            "by hand is `worktime d1 execute`"
        )
    elif lowered.startswith("sqlite_"):
        why, hint = "it is internal to SQLite", None
    elif lowered.startswith("_cf_"):
        why, hint = "it is internal to D1", None
    else:
        return
    raise WorktimeError(f"cannot import into {table!r}: {why}; nothing imported", hint=hint)


def _check_table(
    db: Database, table: str, columns: Sequence[str], pk: str | None, ledger: Collection[str]
) -> list[str]:
    check_target(table, ledger)
    found = [str(r["name"]) for r in db.query("SELECT name FROM pragma_table_info(?)", (table,))]
    if not found:
        raise NotFoundError(
            f"no table {table!r} in the database",
            hint="create it with a migration first (`worktime d1 migrations apply`)",
        )
    unknown = [c for c in columns if c not in found]
    if unknown:
        raise UsageError(
            f"{', '.join(repr(c) for c in unknown)}: not a column of {table}",
            hint=f"{table} has: {', '.join(found)}",
        )
    if pk is not None and pk not in found:
        raise UsageError(f"--pk {pk!r} is not a column of {table}")
    return found


def import_rows(
    db: Database,
    table: str,
    columns: list[str],
    rows: Iterator[list[Any]],
    *,
    upsert: bool = False,
    pk: str | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
    ledger: Collection[str] = (),
) -> ImportResult:
    """Import through the handle given: a local file gets sqlite-utils on worktime's own
    connection (one transaction); any other database gets batched statements within D1's
    limits. The handle decides, so the command never asks where it runs.

    `ledger`: the database's migrations ledger tables (`files.ledger_tables`), refused with
    the default ones and SQLite's and D1's internal tables, before any row is read.
    """
    from worktime_cli.admin.targets import local_file

    path = local_file(db)
    if path is None:
        return import_remote(
            db,
            table,
            columns,
            rows,
            upsert=upsert,
            pk=pk,
            dry_run=dry_run,
            on_progress=on_progress,
            ledger=ledger,
        )
    return import_local(
        path,
        table,
        columns,
        rows,
        upsert=upsert,
        pk=pk,
        dry_run=dry_run,
        on_progress=on_progress,
        ledger=ledger,
    )


def import_local(
    path: Path,
    table: str,
    columns: list[str],
    rows: Iterator[list[Any]],
    *,
    upsert: bool = False,
    pk: str | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
    ledger: Collection[str] = (),
) -> ImportResult:
    """sqlite-utils on worktime's own D1 connection, in one transaction."""
    import sqlite_utils

    from worktime_cli import d1
    from worktime_cli.admin.targets import SQLiteDatabase

    conn = d1.connect(path)
    batch = max(1, MAX_PARAMS // max(1, len(columns)))
    counter = _Counter(rows, batch, on_progress)
    try:
        _check_table(SQLiteDatabase.over(conn), table, columns, pk, ledger)  # one connection
        lib = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        target = lib.table(table)
        try:
            with conn.transaction():
                records = _prepend(columns, counter)
                try:
                    if upsert:
                        target.upsert_all(records, pk=pk, batch_size=batch, alter=False)
                    else:
                        target.insert_all(records, batch_size=batch, alter=False)
                except sqlite3.Error as exc:
                    raise _name_row(conn, table, columns, counter, batch, exc, upsert, pk) from None
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    finally:
        conn.close()
    return ImportResult(table, counter.count, dry_run, upsert, tuple(columns))


class _DryRun(Exception):
    """Raised inside the transaction so a dry run rolls back everything it wrote."""


class _Counter:
    """Counts rows as sqlite-utils reads them and keeps the current batch (to name a bad row)."""

    def __init__(
        self, rows: Iterator[list[Any]], batch: int, on_progress: Callable[[int], None] | None
    ) -> None:
        self.rows = rows
        self.batch = batch
        self.count = 0
        self.chunk: list[list[Any]] = []
        self.on_progress = on_progress

    def __iter__(self) -> Iterator[list[Any]]:
        # Whole batches, as sqlite-utils reads them (it reads a batch before inserting it, so
        # `chunk` is the failed batch when an insert fails).
        rows, size, reported = self.rows, self.batch, 0
        while chunk := list(islice(rows, size)):
            self.chunk = chunk
            self.count += len(chunk)
            if self.on_progress is not None and self.count - reported >= 1000:
                self.on_progress(self.count - reported)
                reported = self.count
            yield from chunk


def _prepend(columns: list[str], rows: _Counter) -> Iterator[Any]:
    yield columns
    yield from rows


def _name_row(
    conn: sqlite3.Connection,
    table: str,
    columns: list[str],
    counter: _Counter,
    batch: int,
    exc: sqlite3.Error,
    upsert: bool,
    pk: str | None,
) -> WorktimeError:
    """Retry the failed batch's rows one by one (in a savepoint) to name the row that fails."""
    candidates = counter.chunk  # sqlite-utils reads a whole batch before it inserts it
    first = counter.count - len(candidates)  # the failed batch's first row, 0-based
    sql, _ = _insert_sql(table, columns, 1, upsert, pk)
    conn.execute("SAVEPOINT worktime_find_row")
    try:
        for offset, row in enumerate(candidates):
            try:
                conn.execute(sql, row)
            except sqlite3.Error as row_exc:
                return SQLError(
                    f"row {first + offset + 1}: {row_exc}; nothing was imported",
                    hint="fix that row (or use --upsert --pk COL for rows that exist) and re-run",
                )
    finally:
        conn.execute("ROLLBACK TO worktime_find_row")
        conn.execute("RELEASE worktime_find_row")
    return SQLError(f"rows {first + 1}–{counter.count}: {exc}; nothing was imported")


def _insert_sql(
    table: str, columns: Sequence[str], count: int, upsert: bool, pk: str | None
) -> tuple[str, str]:
    from worktime_cli.d1 import quote_identifier as q

    marks = "(" + ", ".join("?" for _ in columns) + ")"
    sql = f"INSERT INTO {q(table)} ({', '.join(q(c) for c in columns)}) VALUES " + ", ".join(
        marks for _ in range(count)
    )
    if upsert and pk is not None:
        updates = [f"{q(c)} = excluded.{q(c)}" for c in columns if c != pk]
        sql += f" ON CONFLICT ({q(pk)}) DO " + (
            f"UPDATE SET {', '.join(updates)}" if updates else "NOTHING"
        )
    return sql, marks


def remote_statements(
    table: str, columns: list[str], rows: Iterator[list[Any]], *, upsert: bool, pk: str | None
) -> Iterator[tuple[Statement, int]]:
    """(statement, rows in it): multi-row INSERTs within 100 parameters and ~90 KB."""
    per = max(1, MAX_PARAMS // max(1, len(columns)))
    pending: list[list[Any]] = []
    size = 0
    for row in rows:
        row_size = sum(len(str(v)) + 4 for v in row)
        if pending and (len(pending) == per or size + row_size > MAX_SQL_BYTES):
            yield (
                (_insert_sql(table, columns, len(pending), upsert, pk)[0], _flat(pending)),
                len(pending),
            )
            pending, size = [], 0
        pending.append(row)
        size += row_size
    if pending:
        yield (
            (_insert_sql(table, columns, len(pending), upsert, pk)[0], _flat(pending)),
            len(pending),
        )


def _flat(rows: list[list[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


def import_remote(
    db: Database,
    table: str,
    columns: list[str],
    rows: Iterator[list[Any]],
    *,
    upsert: bool = False,
    pk: str | None = None,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
    ledger: Collection[str] = (),
) -> ImportResult:
    """Batches of statements, one request each (each request atomic on D1)."""
    _check_table(db, table, columns, pk, ledger)
    done = 0
    counted = 0
    group: list[Statement] = []
    group_rows = 0
    for statement, count in remote_statements(table, columns, rows, upsert=upsert, pk=pk):
        counted += count
        if dry_run:
            continue
        group.append(statement)
        group_rows += count
        if len(group) == STATEMENTS_PER_REQUEST:
            done = _send(db, group, done, group_rows, on_progress)
            group, group_rows = [], 0
    if group and not dry_run:
        done = _send(db, group, done, group_rows, on_progress)
    return ImportResult(table, counted, dry_run, upsert, tuple(columns))


def _send(
    db: Database,
    group: list[Statement],
    done: int,
    rows: int,
    on_progress: Callable[[int], None] | None,
) -> int:
    try:
        db.batch(group)
    except WorktimeError as exc:
        raise WorktimeError(
            f"rows {done + 1}–{done + rows} failed: {exc.message}",
            hint=f"the first {done} row(s) were imported; fix the file and re-run the rest "
            "(--upsert --pk COL makes a re-run safe)",
        ) from None
    if on_progress is not None:
        on_progress(rows)
    return done + rows
