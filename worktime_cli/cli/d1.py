"""`worktime d1 …`: local D1 databases (SQLite files in wrangler's layout), or with
`--remote` the account's databases through Cloudflare's API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    ConfigOption,
    JsonOption,
    PersistOption,
    RemoteOption,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.config import Config

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
    from worktime_cli.cli import migrations

    migrations.register(app)  # `d1 migrations …` and `d1 restore`
    root.add_typer(app)


def load_config(path: Path | None) -> Config:
    from worktime_cli import config

    return config.load(path)


def refuse_with_remote(remote: bool, **options: object) -> None:
    """Local-only options mean nothing with --remote: a usage error (exit 2), never ignored."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if remote and given:
        raise typer.BadParameter(f"{', '.join(given)} cannot be combined with --remote")


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
    config: ConfigOption = None,
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
    from worktime_cli import d1

    cfg = load_config(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import d1 as remote_d1

        with client.from_environment(cfg) as c:
            created = remote_d1.create_database(
                c, cfg, name, location=location, persist_to=persist_to, binding=binding
            )
        output.result(
            created.to_json(),
            f"created {created.database.name} on Cloudflare "
            f"(binding {created.binding}, uuid {created.database.uuid})",
            json=json,
        )
        if created.moved_from is not None:
            output.info(f"moved local data {created.moved_from} -> {created.moved_to}")
        return
    if location is not None:
        raise typer.BadParameter("--location needs --remote")
    _, db, path = d1.create(cfg, name, persist_to, binding)
    if json:
        output.print_json(
            {
                "binding": db.binding,
                "database_name": db.database_name,
                "database_id": db.database_id,
                "path": str(path),
            }
        )
        return
    output.success(f"created {db.database_name} (binding {db.binding}, id {db.database_id})")
    output.info(f"local file: {path}")


@app.command("list")
def list_(
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List the databases configured in wrangler.toml and their local files (--remote: the account's).

    Example:

        worktime d1 list --json
        worktime d1 list --remote
    """
    from worktime_cli import d1

    refuse_with_remote(remote, **{"--persist-to": persist_to})
    cfg = load_config(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import d1 as remote_d1

        with client.from_environment(cfg) as c:
            databases = remote_d1.list_databases(c)
        if json:
            output.print_json([db.to_json() for db in databases])
        elif not databases:
            output.info(
                "no databases on this account; create one with `worktime d1 create NAME --remote`"
            )
        else:
            output.print_table(
                ["name", "uuid", "created_at"],
                [[db.name, db.uuid, db.created_at] for db in databases],
            )
        return
    infos = [d1.describe(cfg, db, persist_to, tables=False) for db in cfg.d1_databases]
    if json:
        output.print_json([i.to_json() for i in infos])
        return
    if not infos:
        output.info("no databases configured; create one with `worktime d1 create NAME`")
        return
    output.print_table(
        ["name", "binding", "database_id", "local size"],
        [
            [
                i.database_name,
                i.binding,
                i.database_id or "",
                output.human_size(i.size) if i.exists else "not created",
            ]
            for i in infos
        ],
    )


@app.command("info")
def info(
    database: DatabaseArg,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Show a database's local file, size, and tables with row counts (--remote: Cloudflare's view).

    Example:

        worktime d1 info worktime-db
        worktime d1 info worktime-db --remote --json
    """
    from worktime_cli import d1

    refuse_with_remote(remote, **{"--persist-to": persist_to})
    cfg = load_config(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import d1 as remote_d1

        with client.from_environment(cfg) as c:
            found = remote_d1.describe(c, cfg, database)
        if json:
            output.print_json(found.to_json())
            return
        output.print_table(
            ["property", "value"],
            [
                ["name", found.name],
                ["uuid", found.uuid],
                ["created_at", found.created_at],
                ["version", found.version],
                ["tables", found.num_tables],
                ["size", None if found.file_size is None else output.human_size(found.file_size)],
            ],
        )
        return
    result = d1.describe(cfg, cfg.d1(database), persist_to, tables=True)
    if json:
        output.print_json(result.to_json())
        return
    output.print_table(
        ["property", "value"],
        [
            ["name", result.database_name],
            ["binding", result.binding],
            ["database_id", result.database_id or ""],
            ["file", str(result.path)],
            ["size", output.human_size(result.size)],
        ],
    )
    assert result.tables is not None
    output.print_table(
        ["table", "rows"], [[t.name, t.rows] for t in result.tables], justify={"rows": "right"}
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Run SQL against a local database, with D1's rules and limits (--remote: on Cloudflare).

    Each --command or --file runs in one transaction: if a statement fails, nothing is kept.
    With --remote, --file uses D1's import (upload, then ingest) and asks first (--yes skips).

    Example:

        worktime d1 execute worktime-db --command "SELECT name FROM sqlite_master WHERE type='table'"
        worktime d1 execute worktime-db --file dump.sql
        worktime d1 execute worktime-db --remote --file dump.sql --yes
    """
    from worktime_cli import d1

    if (command is None) == (file is None):
        raise typer.BadParameter("give exactly one of --command or --file")
    refuse_with_remote(remote, **{"--persist-to": persist_to})
    cfg = load_config(config)
    if remote:
        _execute_remote(cfg, database, command, file, yes=yes, json=json)
        return
    db = cfg.d1(database)
    path = d1.database_path(cfg, db, persist_to)
    if command is not None:
        results = d1.execute_command(path, command)
        _show_results([r.to_json() for r in results], json)
        return
    assert file is not None
    size = file.stat().st_size if file.is_file() else 0
    with output.progress_bytes(size, f"executing {file.name}") as advance:
        result = d1.execute_file(path, file, advance)
    if json or not output.is_terminal():
        output.print_json([result.to_json()])
        return
    if result.rows:
        _show_results([result.to_json()], json=False)
    output.success(
        f"executed {file}: {result.changes} row(s) changed in {result.duration_ms / 1000:.2f} s"
    )


def _execute_remote(
    cfg: Config, database: str, command: str | None, file: Path | None, *, yes: bool, json: bool
) -> None:
    from worktime_cli.errors import WorktimeError
    from worktime_cli.remote import client
    from worktime_cli.remote import d1 as remote_d1

    if file is not None and not file.is_file():
        raise WorktimeError(f"cannot read {file}: no such file")
    with client.from_environment(cfg) as c:
        db = remote_d1.resolve(c, cfg, database)
        if command is not None:
            results = remote_d1.query(c, db.uuid, command)
            _show_results([r.to_json() for r in results], json)
            return
        assert file is not None
        output.confirm(
            f"This runs {file} on the remote database {db.name} ({db.uuid}); the database is "
            "unavailable to other queries while it imports, which may take some time. Ok to proceed?",
            yes=yes,
            action=f"import {file} into the remote database {db.name}",
        )
        with output.progress_bytes(file.stat().st_size, f"uploading {file.name}") as advance:
            imported = remote_d1.import_file(
                c, db.uuid, file, on_progress=advance, on_message=output.info
            )
    if json or not output.is_terminal():
        output.print_json([imported.to_json()])
        return
    output.success(f"executed {imported.num_queries} queries from {file} on {db.name}")


def _show_results(results: list[dict[str, Any]], json: bool) -> None:
    """wrangler's rule: a table per statement on a terminal, JSON when piped or asked."""
    if json or not output.is_terminal():
        output.print_json(results)
        return
    for result in results:
        rows = result["results"]
        if rows:
            columns = list(rows[0])
            output.print_table(
                columns, [["NULL" if r[c] is None else r[c] for c in columns] for r in rows]
            )
        else:
            meta = result["meta"]
            output.info(f"ok: {meta['changes']} row(s) changed in {meta['duration']:.1f} ms")


@app.command("export")
def export(
    database: DatabaseArg,
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help="File to write the SQL dump to.", dir_okay=False)
    ],
    no_data: Annotated[bool, typer.Option("--no-data", help="Schema only.")] = False,
    no_schema: Annotated[bool, typer.Option("--no-schema", help="Rows only.")] = False,
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Only this table (repeatable).")
    ] = None,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Dump a local database to a SQL file that `execute --file` re-imports.

    Example:

        worktime d1 export worktime-db --output backup.sql
    """
    from worktime_cli import d1, dump

    cfg = load_config(config)
    path = d1.database_path(cfg, cfg.d1(database), persist_to)
    result = dump.export(
        path, output_path, data=not no_data, schema=not no_schema, tables=table or ()
    )
    if json:
        output.print_json(
            {
                "path": str(result.path),
                "tables": list(result.tables),
                "rows": result.rows,
                "size": result.size,
            }
        )
        return
    output.success(
        f"exported {len(result.tables)} table(s), {result.rows} row(s) to {result.path} "
        f"({output.human_size(result.size)})"
    )


@app.command("delete")
def delete(
    database: DatabaseArg,
    yes: YesOption = False,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Delete a local database's file and remove it from wrangler.toml.

    With --remote, delete the database on Cloudflare instead, as `wrangler d1 delete`:
    wrangler.toml and the local file are left as they are.

    Example:

        worktime d1 delete worktime-db --yes
        worktime d1 delete worktime-db --remote
    """
    from worktime_cli import d1

    refuse_with_remote(remote, **{"--persist-to": persist_to})
    cfg = load_config(config)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import d1 as remote_d1

        # Confirm before any request: without a terminal and --yes, nothing is sent.
        output.confirm(
            f"Delete the remote database {database} on Cloudflare and all its data? "
            "This cannot be undone.",
            yes=yes,
            action=f"delete the remote database {database}",
        )
        with client.from_environment(cfg) as c:
            found = remote_d1.resolve(c, cfg, database)
            remote_d1.delete_database(c, found.uuid)
        output.success(f"deleted the remote database {found.name} ({found.uuid})")
        return
    db = cfg.d1(database)
    output.confirm(
        f"Delete local database {db.database_name} and its data? This cannot be undone.",
        yes=yes,
        action=f"delete database {db.database_name}",
    )
    _, existed = d1.delete(cfg, db, persist_to)
    note = "" if existed else " (it had no local file)"
    output.success(f"deleted {db.database_name}{note} and removed it from {cfg.path.name}")
