"""`worktime d1 migrations …` and `worktime d1 restore`: thin wrappers over the one engine.

Every command asks the context for the migrations target (local, or `--remote`) and hands
it to `worktime_cli.migrations.engine`; the same mistake gets the same words either way.
This module only wires the group: the commands live in modules by job — `migrations_files`
(create, list, mark-applied), `migrations_apply` and `migrations_rollback` (with `down`) over
`migrations_run`, `migrations_checks` (verify, lint) — and `restore` is `d1 restore`.
"""

from __future__ import annotations

import typer

from worktime_cli.cli import (
    migrations_apply,
    migrations_checks,
    migrations_files,
    migrations_rollback,
)

app = typer.Typer(
    name="migrations",
    help="Create, list, apply and roll back D1 migrations (wrangler-compatible files and table).",
    no_args_is_help=True,
)
app.command("create")(migrations_files.create)
app.command("list")(migrations_files.list_)
app.command("apply")(migrations_apply.apply)
app.command("rollback")(migrations_rollback.rollback)
app.command("down")(migrations_rollback.down)
app.command("verify")(migrations_checks.verify)
app.command("lint")(migrations_checks.lint)
app.command("mark-applied")(migrations_files.mark_applied)


def register(d1_app: typer.Typer) -> None:
    """Add `migrations`, `restore` and `reset` under the `d1` group."""
    from worktime_cli.cli import time_travel
    from worktime_cli.cli.reset import reset
    from worktime_cli.cli.restore import restore

    d1_app.add_typer(app)
    d1_app.command("restore")(restore)
    d1_app.command("reset")(reset)
    time_travel.register(d1_app)
