"""`worktime d1 import DB TABLE FILE`: rows from CSV/TSV/JSON/NDJSON into an existing table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import DryRunOption
from worktime_cli.cli.options import (
    DatabaseArg,
    Target,
)

if TYPE_CHECKING:
    from worktime_cli.admin.importer import ImportResult
    from worktime_cli.project.config import Config


def register(d1_app: typer.Typer) -> None:
    d1_app.command("import")(import_rows)


def import_rows(
    database: DatabaseArg,
    table: Annotated[str, typer.Argument(help="An existing table.")],
    file: Annotated[
        Path,
        typer.Argument(
            help="The rows: CSV with a header, TSV, JSON array or NDJSON.", dir_okay=False
        ),
    ],
    csv: Annotated[bool, typer.Option("--csv", help="FILE is CSV with a header row.")] = False,
    tsv: Annotated[
        bool, typer.Option("--tsv", help="FILE is tab-separated with a header row.")
    ] = False,
    json_rows: Annotated[
        bool,
        typer.Option(
            "--json", help="FILE is a JSON array of objects (the format, not the output)."
        ),
    ] = False,
    nl: Annotated[
        bool, typer.Option("--nl", help="FILE is newline-delimited JSON objects.")
    ] = False,
    upsert: Annotated[
        bool, typer.Option("--upsert", help="Update rows whose --pk exists instead of failing.")
    ] = False,
    pk: Annotated[
        str | None,
        typer.Option("--pk", help="The primary key column for --upsert.", show_default=False),
    ] = None,
    dry_run: DryRunOption = False,
    target: Target = Target(),
) -> None:
    """Import rows into a table, all or nothing, within D1's limits; a bad row is named by number.

    Locally: sqlite-utils on worktime's own D1 connection (foreign keys on, at most 100
    bound parameters per statement), in one transaction. With --remote: batched multi-row
    statements, each request atomic on D1. The format follows the file's extension unless
    given. As sqlite-utils' insert, --json names the file's format here.

    Example:

        worktime d1 import worktime-db users users.csv --upsert --pk github_user_id
    """
    from worktime_cli.admin import importer
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.errors import UsageError

    chosen = [
        name for name, on in (("csv", csv), ("tsv", tsv), ("json", json_rows), ("nl", nl)) if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one format, not {' and '.join('--' + c for c in chosen)}")
    if upsert and pk is None:
        raise UsageError("--upsert needs --pk COLUMN")
    if pk is not None and not upsert:
        raise UsageError("--pk goes with --upsert")
    fmt = importer.detect_format(file, chosen[0] if chosen else None)
    with open_admin(database, target) as admin:
        if not dry_run:
            admin.ctx.aim_database(admin.database)
        columns, rows = importer.read_rows(file, fmt)
        if not columns:
            raise UsageError(f"{file} has no rows")
        with output.progress(f"importing {file.name}", unit="rows") as bar:
            if bar.wanted:
                # Only for the bar: counting lines is cheap next to the import. A JSON array
                # is not one row a line: its count stays unknown.
                bar.update(0, _line_count(file, fmt))
            result = importer.import_rows(
                admin.db,
                table,
                columns,
                rows,
                upsert=upsert,
                pk=pk,
                dry_run=dry_run,
                on_progress=bar.advance,
                ledger=_ledgers(admin.ctx.config),
            )
    _show(result)


def _line_count(file: Path, fmt: str) -> int | None:
    """Rows in a CSV, TSV or NDJSON file, near enough for a progress bar (a quoted value
    can span lines); None for a JSON array."""
    if fmt == "json":
        return None
    with file.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return max(lines - (1 if fmt in ("csv", "tsv") else 0), 0)


def _ledgers(config: Config) -> list[str]:
    """Every configured database's migrations ledger (a custom migrations_table included)."""
    from worktime_cli.migrations.files import ledger_tables

    return [t for db in config.d1_databases for t in ledger_tables(db.migrations_table)]


def _show(result: ImportResult) -> None:
    verb = "would import" if result.dry_run else ("upserted" if result.upsert else "imported")
    message = f"{verb} {result.rows} row(s) into {result.table}"
    if result.dry_run:
        output.info(f"dry run: {message}; nothing changed")
    else:
        output.success(message)
