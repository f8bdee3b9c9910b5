"""`worktime d1 …`: local D1 databases (SQLite files in wrangler's layout)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, JsonOption, PersistOption, YesOption

if TYPE_CHECKING:
    from worktime_cli.config import Config

app = typer.Typer(
    name="d1",
    help="Manage local D1 databases: the same SQLite files `wrangler dev` uses.",
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


@app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(help="database_name for the new database.", show_default=False)
    ],
    binding: Annotated[
        str | None, typer.Option(help="Binding name (default: DB if free, else derived from NAME).")
    ] = None,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Create a local database and add it to wrangler.toml.

    Example:

        worktime d1 create worktime-db
    """
    from worktime_cli import d1

    cfg = load_config(config)
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
    config: ConfigOption = None, persist_to: PersistOption = None, json: JsonOption = False
) -> None:
    """List the databases configured in wrangler.toml and their local files.

    Example:

        worktime d1 list --json
    """
    from worktime_cli import d1

    cfg = load_config(config)
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Show a database's local file, size, and tables with row counts.

    Example:

        worktime d1 info worktime-db
    """
    from worktime_cli import d1

    cfg = load_config(config)
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Run SQL against a local database, with D1's rules and limits.

    Each --command or --file runs in one transaction: if a statement fails, nothing is kept.

    Example:

        worktime d1 execute worktime-db --command "SELECT name FROM sqlite_master WHERE type='table'"
        worktime d1 execute worktime-db --file dump.sql
    """
    from worktime_cli import d1

    del yes  # local execution is atomic; --yes matters for --remote
    if (command is None) == (file is None):
        raise typer.BadParameter("give exactly one of --command or --file")
    cfg = load_config(config)
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
        f"executed {result.statements} statement(s) from {file} "
        f"({result.changes} row(s) changed, {result.duration_ms / 1000:.2f} s)"
    )


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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Delete a local database's file and remove it from wrangler.toml.

    Example:

        worktime d1 delete worktime-db --yes
    """
    from worktime_cli import d1

    cfg = load_config(config)
    db = cfg.d1(database)
    output.confirm(
        f"Delete local database {db.database_name} and its data? This cannot be undone.",
        yes=yes,
        action=f"delete database {db.database_name}",
    )
    _, existed = d1.delete(cfg, db, persist_to)
    note = "" if existed else " (it had no local file)"
    output.success(f"deleted {db.database_name}{note} and removed it from {cfg.path.name}")
