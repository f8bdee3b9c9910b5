"""`worktime d1 execute`: SQL from --command or --file run against one database with D1's rules
and limits, each in one transaction; results as tables on a terminal, JSON when piped."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    PreviewTarget,
    Target,
    YesOption,
)
from worktime_cli.targets.remote_write import with_target

if TYPE_CHECKING:
    from worktime_cli.targets.d1 import FileResult, StatementResult
    from worktime_cli.targets.remote_write import RemoteWrite


def execute(
    database: DatabaseArg,
    command: Annotated[
        str | None, typer.Option("--command", help="SQL to run (one or more statements).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="SQL file to run, all or nothing.", dir_okay=False)
    ] = None,
    yes: YesOption = False,
    target: PreviewTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Run SQL against a local database, with D1's rules and limits (--remote: on Cloudflare).

    Each --command or --file runs in one transaction: if a statement fails, nothing is kept.
    A configured database without a local file yet gets one, as wrangler does.
    With --remote, --file uses D1's import (upload, then ingest) and asks first (--yes skips).

    Example:

        worktime d1 execute worktime-db --command "SELECT name FROM sqlite_master WHERE type='table'"
        worktime d1 execute worktime-db --file dump.sql
        worktime d1 execute worktime-db --remote --file dump.sql --yes
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.errors import UsageError

    if (command is None) == (file is None):
        raise UsageError("give exactly one of --command or --file")
    with open_context(
        target,
        local_only={"--persist-to": target.persist_to},
        remote_only={"--preview": target.preview},
    ) as ctx:
        db = ctx.d1().database(database, preview=bool(target.preview))
        if command is not None:
            aimed = (
                ctx.aim("d1_database", db.name, lambda: db.database_id)
                if _writes(command)
                else None
            )
            _show_results(db.execute(command), json=json, aimed=aimed)
            return
        assert file is not None
        aimed = ctx.aim("d1_database", db.name, lambda: db.database_id)
        warning = db.import_warning(file)
        if warning is not None:
            output.confirm(
                warning, yes=yes, action=f"import {file} into the remote database {db.name}"
            )
        size = file.stat().st_size if file.is_file() else None
        with output.progress(f"executing {file.name}", size, unit="bytes") as bar:
            result = db.execute_file(file, bar.advance, output.info)
    if json or not output.is_terminal():
        # wrangler's rule: a list, one item per input.
        output.print_json(with_target([result.to_json()], aimed))
        return
    _show_file_result(result, file)


def _writes(sql: str) -> bool:
    """Whether `--command` may change the database (a statement that is not surely a read)."""
    from worktime_cli.d1 import is_read_only
    from worktime_cli.errors import SQLError
    from worktime_cli.sqlite.script import split

    try:
        return not all(is_read_only(statement) for statement in split(sql))
    except SQLError:
        return True  # the run reports it; the target is named all the same


def _show_file_result(result: FileResult, file: Path) -> None:
    if result.rows:
        _show_rows(result.rows)
    output.success(
        f"executed {file}: {result.statements} statement(s), {result.changes} row(s) changed"
        f" in {result.duration_ms / 1000:.2f} s"
    )


def _show_results(results: list[StatementResult], *, json: bool, aimed: RemoteWrite | None) -> None:
    """wrangler's rule: a table per statement on a terminal, JSON when piped or asked."""
    if json or not output.is_terminal():
        output.print_json(with_target([r.to_json() for r in results], aimed))
        return
    for result in results:
        if result.rows:
            _show_rows(result.rows)
        else:
            output.info(f"ok: {result.changes} row(s) changed in {result.duration_ms:.1f} ms")


def _show_rows(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    output.print_table(columns, [["NULL" if r[c] is None else r[c] for c in columns] for r in rows])
