"""`worktime d1 migrations create`, `list` and `mark-applied`: the migration files and what the
ledger records of them; none of these runs a migration's SQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    LocalTarget,
    PreviewTarget,
    ProjectTarget,
    Target,
)

if TYPE_CHECKING:
    from worktime_cli.migrations import CreatedMigration, MarkResult, Status
    from worktime_cli.migrations.alter import CreatedAlter


def create(
    database: DatabaseArg,
    message: Annotated[
        str,
        typer.Argument(
            help="What the migration does; slugged to [a-z0-9_] for the file name.",
            show_default=False,
        ),
    ],
    alter: Annotated[
        str | None,
        typer.Option(
            "--alter",
            metavar="TABLE",
            help="Write a D1-safe rebuild of TABLE (as the migrations define it) and its down.",
            show_default=False,
        ),
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", metavar="COL=TYPE", help="With --alter: change a column's type."),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", metavar="COL", help="With --alter: drop a column."),
    ] = None,
    rename: Annotated[
        list[str] | None,
        typer.Option("--rename", metavar="OLD=NEW", help="With --alter: rename a column."),
    ] = None,
    not_null: Annotated[
        list[str] | None,
        typer.Option("--not-null", metavar="COL", help="With --alter: make a column NOT NULL."),
    ] = None,
    default: Annotated[
        list[str] | None,
        typer.Option(
            "--default", metavar="COL=VALUE", help="With --alter: set a column's default."
        ),
    ] = None,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Create the next numbered migration file and its down (rollback) file.

    With --alter TABLE the pair rebuilds the table the D1-safe way (SQLite has no ALTER
    COLUMN): sqlite-utils' rebuild under PRAGMA defer_foreign_keys = ON, indexes and
    triggers recreated, and the rows of tables whose ON DELETE CASCADE / SET NULL would
    fire on the drop copied aside and put back (D1 cannot turn foreign keys off). The pair
    is replayed (up, down, up) before it is written. The options repeat.

    Example:

        worktime d1 migrations create worktime-db "add notes"
        worktime d1 migrations create worktime-db "pr as text" --alter time_sessions --type pr_number=TEXT
        worktime d1 migrations create worktime-db "tidy users" --alter users --rename avatar_url=avatar --drop last_active
    """
    from worktime_cli.cli.context import open_context

    changes = {
        "--type": type_,
        "--drop": drop,
        "--rename": rename,
        "--not-null": not_null,
        "--default": default,
    }
    if alter is None:
        given = next((name for name, values in changes.items() if values), None)
        if given is not None:
            from worktime_cli.errors import UsageError

            raise UsageError(f"{given} needs --alter TABLE", hint="name the table to rebuild")
        from worktime_cli import migrations

        with open_context(target) as ctx:
            created = migrations.create(ctx.config, ctx.config.d1(database), message)
        output.render(created, json=json, human=_show_created)
        return

    from worktime_cli.migrations import alter as alter_

    spec = alter_.AlterSpec(
        alter,
        types=alter_.pairs(type_ or [], "--type"),
        drop=tuple(drop or ()),
        rename=alter_.pairs(rename or [], "--rename"),
        not_null=tuple(not_null or ()),
        defaults=alter_.pairs(default or [], "--default"),
    )
    with open_context(target) as ctx:
        rebuilt = alter_.create(ctx.config, ctx.config.d1(database), message, spec)
    output.render(rebuilt, json=json, human=_show_altered)


def _show_created(created: CreatedMigration) -> None:
    output.success(f"created {created.name}")
    output.info(f"up:   {created.path}")
    output.info(f"down: {created.down_path}")


def _show_altered(created: CreatedAlter) -> None:
    output.success(f"created {created.name}: a rebuild of {created.table}")
    output.info(f"up:   {created.path}")
    output.info(f"down: {created.down_path}")
    if created.preserved:
        output.info(f"rows of {', '.join(created.preserved)} are kept across the drop")


def list_(
    database: DatabaseArg,
    target: PreviewTarget = Target(),
    json: JsonOption = False,
) -> None:
    """List migrations and whether each is applied, pending, drifted or missing.

    The down column says where a rollback's SQL comes from: file (migrations/down/NAME),
    captured (its copy recorded at apply time), derived (worktime inverts a migration that
    only creates, adds columns or renames), refused (a captured copy changed outside
    worktime: rollback refuses it) or none (irreversible).

    Migrations are the files the binding's migrations_pattern matches (default
    migrations/*.sql), in wrangler's order; symlinks are skipped, as wrangler skips them.

    Locally this only reads. With --remote, ask the database on Cloudflare; like wrangler,
    that creates the empty tracking tables there if they do not exist yet.

    Example:

        worktime d1 migrations list worktime-db --json
        worktime d1 migrations list worktime-db --remote
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import reports

    with open_context(
        target,
        local_only={"--persist-to": target.persist_to},
        remote_only={"--preview": target.preview},
    ) as ctx:
        migrations = ctx.migrations(database, preview=bool(target.preview))
        result = reports.status(migrations)
        folder = migrations.folder
    output.render(result, json=json, human=lambda r: _show_states(r, str(folder)))


def _show_states(status: Status, folder: str) -> None:
    if not status.migrations:
        output.info(f"no migrations in {folder}")
        return
    output.print_table(
        ["name", "status", "applied at", "down"],
        [
            [
                s.name,
                s.state + (" (out of order)" if s.out_of_order else ""),
                s.applied_at or "",
                s.down,
            ]
            for s in status.migrations
        ],
    )
    output.info(", ".join(f"{n} {state}" for state, n in status.counts.items() if n))


def mark_applied(
    database: DatabaseArg,
    name: Annotated[
        str,
        typer.Argument(
            help="The migration to record, e.g. 0001_initial_schema.", show_default=False
        ),
    ],
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Record a migration as applied without running its SQL (baseline an existing database).

    Example:

        worktime d1 migrations mark-applied worktime-db 0001_initial_schema
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import engine

    with open_context(target) as ctx:
        result = engine.mark_applied(ctx.migrations(database), name)
    output.render(result, json=json, human=_show_marked)


def _show_marked(result: MarkResult) -> None:
    output.success(f"marked {result.name} as applied to {result.database} (no SQL was run)")
