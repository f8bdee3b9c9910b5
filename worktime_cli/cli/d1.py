"""`worktime d1 …`: local D1 databases (SQLite files in wrangler's layout), or with
`--remote` the account's databases through Cloudflare's API.

Every command opens one context (`cli.context`), which picks the local or remote target;
the targets return the same results (`worktime_cli.targets.d1`), rendered once by the command.
This module only wires the group: `d1_databases` (create, list, info, delete), `d1_execute`,
`d1_export`, and the subgroups and commands added by `register`.
"""

from __future__ import annotations

import typer

from worktime_cli.cli import d1_databases, d1_execute, d1_export

app = typer.Typer(
    name="d1",
    help="Manage D1 databases: the local SQLite files `wrangler dev` uses, or with --remote Cloudflare's.",
    no_args_is_help=True,
)
app.command("create")(d1_databases.create)
app.command("list")(d1_databases.list_)
app.command("info")(d1_databases.info)
app.command("execute")(d1_execute.execute)
app.command("export")(d1_export.export)
app.command("delete")(d1_databases.delete)


def register(root: typer.Typer) -> None:
    from worktime_cli.cli import d1_import, d1_sync, migrations

    migrations.register(app)  # `d1 migrations …`, `d1 restore`, `d1 reset`, `d1 time-travel`
    d1_sync.register(app)  # `d1 diff`, `d1 pull`
    d1_import.register(app)
    root.add_typer(app)
