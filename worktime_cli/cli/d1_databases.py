"""`worktime d1 create`, `list`, `info` and `delete`: the databases themselves, as local SQLite
files in wrangler's layout and wrangler.toml entries, or with --remote the account's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.d1_limits import LargestRowOption
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.targets.d1 import (
        CreatedDatabase,
        DatabaseInfo,
        DatabaseList,
        DeletedDatabase,
    )


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
    target: Target = Target(),
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
        target,
        remote_only={"--location": location},
    ) as ctx:
        aimed = ctx.aim("d1_database", name, lambda: None)
        created = ctx.d1().create(name, binding=binding, location=location)
    render(created, aimed, json=json, human=_show_created)


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


def list_(
    target: Target = Target(),
    json: JsonOption = False,
) -> None:
    """List the databases configured in wrangler.toml and their local files (--remote: the account's).

    Example:

        worktime d1 list --json
        worktime d1 list --remote
    """
    from worktime_cli.cli.context import open_context

    with open_context(
        target,
        local_only={"--persist-to": target.persist_to},
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


def info(
    database: DatabaseArg,
    target: Target = Target(),
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
        target,
        local_only={"--persist-to": target.persist_to},
    ) as ctx:
        found = d1_limits.with_limits(
            ctx, database, ctx.d1().info(database), largest_row=largest_row
        )
    output.render(
        found, json=json, human=lambda r: d1_limits.show(r, _show_info, remote=target.remote)
    )


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


def delete(
    database: DatabaseArg,
    yes: YesOption = False,
    target: Target = Target(),
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
        target,
        local_only={"--persist-to": target.persist_to},
    ) as ctx:
        databases = ctx.d1()
        # Named (remote: resolved, a read) before the question, so what is confirmed is
        # the exact database; without a terminal and --yes, nothing is deleted.
        aimed = ctx.aim_database(database)
        output.confirm(
            f"Delete the {databases.place} database {database} and all its data? "
            "This cannot be undone.",
            yes=yes,
            action=f"delete the {databases.place} database {database}",
        )
        deleted = databases.delete(database)
    render(deleted, aimed, json=json, human=_show_deleted)


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
