"""`worktime d1 export`: a database dumped to a SQL file that `execute --file` re-imports, or to
stdout once the dump is complete."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    Target,
)

if TYPE_CHECKING:
    from worktime_cli.targets.d1 import ExportResult


def export(
    database: DatabaseArg,
    output_path: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="File to write the SQL dump to; - writes it to stdout.",
            dir_okay=False,
            allow_dash=True,
        ),
    ],
    no_data: Annotated[bool, typer.Option("--no-data", help="Schema only.")] = False,
    no_schema: Annotated[bool, typer.Option("--no-schema", help="Rows only.")] = False,
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Only this table (repeatable).")
    ] = None,
    compatibility: Annotated[
        str | None,
        typer.Option(
            "--compatibility",
            metavar="d1",
            help="wrangler's dump format: d1 (what worktime writes: D1 re-imports it); "
            "sqlite3_cli_only is refused.",
            show_default=False,
        ),
    ] = None,
    target: Target = Target(),
    json: JsonOption = False,
) -> None:
    """Dump a database to a SQL file that `execute --file` re-imports (--remote: Cloudflare's).

    With --output -, the dump goes to stdout, and only once it is complete: a failure
    prints nothing there.

    Example:

        worktime d1 export worktime-db --output backup.sql
        worktime d1 export worktime-db --output - | gzip > backup.sql.gz
    """
    import tempfile
    from contextlib import ExitStack

    from worktime_cli.cli.context import open_context
    from worktime_cli.errors import UsageError

    if compatibility not in (None, "d1"):
        # wrangler 4.164: sqlite3_cli_only is `sqlite3 .dump`'s output (virtual tables too),
        # which D1 cannot import; worktime writes only dumps that re-import.
        raise UsageError(
            f"--compatibility {compatibility} is not supported: worktime writes the d1 format "
            "only (a dump D1 re-imports)",
            hint="for sqlite3's own .dump, run `sqlite3 FILE .dump` on the local file "
            "(`worktime d1 info` shows its path)",
        )
    to_stdout = str(output_path) == "-"
    if to_stdout and json:
        raise UsageError("--json cannot be combined with --output -: the dump is stdout")
    with ExitStack() as stack:
        destination = output_path
        if to_stdout:
            # Dumped whole to a private file first: stdout gets all of it or nothing.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="worktime-export-"))
            destination = Path(folder) / "dump.sql"
        with open_context(
            target,
            local_only={"--persist-to": target.persist_to},
        ) as ctx:
            db = ctx.d1().database(database)
            with output.progress(f"exporting {db.name}", unit="rows") as bar:
                result = db.export(
                    destination,
                    data=not no_data,
                    schema=not no_schema,
                    tables=table or (),
                    # The count of rows costs a scan: only when a bar can show it.
                    on_progress=bar.update if bar.wanted else None,
                )
        if to_stdout:
            _copy_to_stdout(destination)
            output.success(_exported(result, "stdout"))
            return
    output.render(result, json=json, human=lambda r: output.success(_exported(r, str(r.path))))


def _copy_to_stdout(path: Path) -> None:
    import shutil
    import sys

    with path.open("rb") as dump:
        shutil.copyfileobj(dump, sys.stdout.buffer)
    sys.stdout.buffer.flush()


def _exported(result: ExportResult, where: str) -> str:
    return (
        f"exported {len(result.tables)} table(s), {result.rows} row(s) to {where} "
        f"({output.human_size(result.size)})"
    )
