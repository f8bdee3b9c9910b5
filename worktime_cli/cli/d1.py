"""`worktime d1 …`: local D1 databases (SQLite files in wrangler's layout), or with
`--remote` the account's databases through Cloudflare's API.

Every command opens one context (`cli.context`), which picks the local or remote target;
the targets return the same results (`worktime_cli.targets.d1`), rendered here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.d1_limits import LargestRowOption
from worktime_cli.cli.options import (
    ConfigOption,
    EnvOption,
    JsonOption,
    LocalOption,
    PersistOption,
    PreviewOption,
    RemoteOption,
    YesOption,
)
from worktime_cli.targets.remote_write import with_target

if TYPE_CHECKING:
    from worktime_cli.targets.d1 import (
        CreatedDatabase,
        DatabaseInfo,
        DatabaseList,
        DeletedDatabase,
        ExportResult,
        FileResult,
        StatementResult,
    )
    from worktime_cli.targets.remote_write import RemoteWrite

app = typer.Typer(
    name="d1",
    help="Manage D1 databases: the local SQLite files `wrangler dev` uses, or with --remote Cloudflare's.",
    no_args_is_help=True,
)

DatabaseArg = Annotated[
    str,
    typer.Argument(
        metavar="DATABASE", help="The database's database_name or binding.", show_default=False
    ),
]


def register(root: typer.Typer) -> None:
    from worktime_cli.cli import d1_sync, migrations

    migrations.register(app)  # `d1 migrations …` and `d1 restore`
    d1_sync.register(app)  # `d1 diff`, `d1 pull` (issue 24)
    import importlib

    try:
        # Being written in parallel (issue 10): the lead replaces this guard with a plain
        # `from worktime_cli.cli import d1_import` once the module exists.
        d1_import = importlib.import_module("worktime_cli.cli.d1_import")
    except ModuleNotFoundError as exc:
        if exc.name != "worktime_cli.cli.d1_import":
            raise
    else:
        d1_import.register(app)
    root.add_typer(app)


@app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(help="database_name for the new database.", show_default=False)
    ],
    binding: Annotated[
        str | None, typer.Option(help="Binding name (default: DB if free, else derived from NAME).")
    ] = None,
    location: Annotated[
        str | None,
        typer.Option(
            "--location",
            help="With --remote: primary location hint (wnam, enam, weur, eeur, apac, oc).",
            show_default=False,
        ),
    ] = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Create a local database and add it to wrangler.toml (--remote: on Cloudflare).

    With --remote the new database's uuid becomes database_id in wrangler.toml, and the
    local file moves to the name derived from it, so local data follows the new id.

    Example:

        worktime d1 create worktime-db
        worktime d1 create worktime-db --remote --location weur
    """
    from worktime_cli.cli.context import open_context, render

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        remote_only={"--location": location},
    ) as ctx:
        target = ctx.aim("d1_database", name, lambda: None)
        created = ctx.d1().create(name, binding=binding, location=location)
    render(created, target, json=json, human=_show_created)


def _show_created(created: CreatedDatabase) -> None:
    where, id_label = (" on Cloudflare", "uuid") if created.on_cloudflare else ("", "id")
    output.success(
        f"created {created.database_name}{where} "
        f"(binding {created.binding}, {id_label} {created.database_id})"
    )
    if created.path is not None:
        output.info(f"local file: {created.path}")
    if created.local_moved_from is not None:
        output.info(f"moved local data {created.local_moved_from} -> {created.local_moved_to}")


@app.command("list")
def list_(
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List the databases configured in wrangler.toml and their local files (--remote: the account's).

    Example:

        worktime d1 list --json
        worktime d1 list --remote
    """
    from worktime_cli.cli.context import open_context

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
    ) as ctx:
        databases = ctx.d1().list()
    output.render(databases, json=json, human=_show_list)


def _show_list(listed: DatabaseList) -> None:
    if not listed.databases:
        if listed.on_cloudflare:
            output.info(
                "no databases on this account; create one with `worktime d1 create NAME --remote`"
            )
        else:
            output.info("no databases configured; create one with `worktime d1 create NAME`")
        return
    columns = ["name", "binding", "database_id", "size"]
    with_created = any(db.created_at is not None for db in listed.databases)
    if with_created:
        columns.append("created_at")
    rows = []
    for db in listed.databases:
        row: list[object] = [db.database_name, db.binding, db.database_id, _size(db)]
        if with_created:
            row.append(db.created_at)
        rows.append(row)
    output.print_table(columns, rows)


def _size(db: DatabaseInfo) -> str | None:
    if db.exists is False:
        return "not created"
    return None if db.size is None else output.human_size(db.size)


@app.command("info")
def info(
    database: DatabaseArg,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
    largest_row: LargestRowOption = False,
) -> None:
    """Show a database's local file, size, and tables with row counts (--remote: Cloudflare's view).

    Also D1's limits: the size against the per-database cap (10 GB) and the largest row
    against the 2 MB row limit (remotely only with --largest-row: it reads every row).

    Example:

        worktime d1 info worktime-db
        worktime d1 info worktime-db --remote --json
    """
    from worktime_cli.cli import d1_limits
    from worktime_cli.cli.context import open_context

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
    ) as ctx:
        found = d1_limits.with_limits(
            ctx, database, ctx.d1().info(database), largest_row=largest_row
        )
    output.render(found, json=json, human=lambda r: d1_limits.show(r, _show_info, remote=remote))


def _show_info(found: DatabaseInfo) -> None:
    properties: list[tuple[str, object]] = [
        ("name", found.database_name),
        ("binding", found.binding),
        ("database_id", found.database_id),
        ("file", found.path),
        ("size", _size(found)),
        ("created_at", found.created_at),
        ("version", found.version),
        ("tables", found.num_tables),
    ]
    output.print_table(
        ["property", "value"], [[key, value] for key, value in properties if value is not None]
    )
    if found.tables is not None:
        output.print_table(
            ["table", "rows"], [[t.name, t.rows] for t in found.tables], justify={"rows": "right"}
        )


@app.command("execute")
def execute(
    database: DatabaseArg,
    command: Annotated[
        str | None, typer.Option("--command", help="SQL to run (one or more statements).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="SQL file to run, all or nothing.", dir_okay=False)
    ] = None,
    yes: YesOption = False,
    remote: RemoteOption = False,
    preview: PreviewOption = None,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
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
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
        remote_only={"--preview": preview},
    ) as ctx:
        db = ctx.d1().database(database, preview=bool(preview))
        if command is not None:
            target = (
                ctx.aim("d1_database", db.name, lambda: db.database_id)
                if _writes(command)
                else None
            )
            _show_results(db.execute(command), json=json, target=target)
            return
        assert file is not None
        target = ctx.aim("d1_database", db.name, lambda: db.database_id)
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
        output.print_json(with_target([result.to_json()], target))
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


def _show_results(
    results: list[StatementResult], *, json: bool, target: RemoteWrite | None
) -> None:
    """wrangler's rule: a table per statement on a terminal, JSON when piped or asked."""
    if json or not output.is_terminal():
        output.print_json(with_target([r.to_json() for r in results], target))
        return
    for result in results:
        if result.rows:
            _show_rows(result.rows)
        else:
            output.info(f"ok: {result.changes} row(s) changed in {result.duration_ms:.1f} ms")


def _show_rows(rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    output.print_table(columns, [["NULL" if r[c] is None else r[c] for c in columns] for r in rows])


@app.command("export")
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
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
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
            config=config,
            persist_to=persist_to,
            remote=remote,
            local=local,
            env=env,
            local_only={"--persist-to": persist_to},
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


@app.command("delete")
def delete(
    database: DatabaseArg,
    yes: YesOption = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Delete a local database's file and remove it from wrangler.toml.

    With --remote, delete the database on Cloudflare instead, as `wrangler d1 delete`:
    wrangler.toml and the local file are left as they are.

    Example:

        worktime d1 delete worktime-db --yes
        worktime d1 delete worktime-db --remote
    """
    from worktime_cli.cli.context import open_context, render

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
    ) as ctx:
        databases = ctx.d1()
        # Named (remote: resolved, a read) before the question, so what is confirmed is
        # the exact database; without a terminal and --yes, nothing is deleted.
        target = ctx.aim_database(database)
        output.confirm(
            f"Delete the {databases.place} database {database} and all its data? "
            "This cannot be undone.",
            yes=yes,
            action=f"delete the {databases.place} database {database}",
        )
        deleted = databases.delete(database)
    render(deleted, target, json=json, human=_show_deleted)


def _show_deleted(deleted: DeletedDatabase) -> None:
    if deleted.on_cloudflare:
        output.success(
            f"deleted the remote database {deleted.database_name} ({deleted.database_id})"
        )
        return
    note = "" if deleted.had_file else " (it had no local file)"
    where = deleted.config.name if deleted.config is not None else "the config"
    output.success(
        f"deleted the local database {deleted.database_name}{note}; removed it from {where}"
    )
