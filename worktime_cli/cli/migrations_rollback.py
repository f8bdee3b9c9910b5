"""`worktime d1 migrations rollback` and `down`: undo applied migrations with their down SQL, and
show that SQL and where it comes from (the down file, the copy captured at apply, or derived)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import migrations_run, output
from worktime_cli.cli.migrations_options import DryRunOption
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    LocalTarget,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.migrations import RunPlan, RunResult
    from worktime_cli.migrations.reports import DownSQL


def rollback(
    database: DatabaseArg,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps",
            min=1,
            max=1_000_000,  # far beyond any history; a typo like 10^20 is a usage error
            help="Roll back the newest N migrations (default 1).",
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Roll back everything applied after this migration.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Roll back every applied migration.")] = False,
    group: Annotated[
        bool,
        typer.Option(
            "--group",
            help="Run them all as ONE atomic unit (remote: one request): all or none.",
        ),
    ] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    target: Target = Target(),
    json: JsonOption = False,
) -> None:
    """Roll back applied migrations, newest first, using their down SQL.

    The down SQL comes from migrations/down/NAME, or, if that file is gone (another git
    branch), from the copy captured when the migration was applied, or is derived from the
    up file when every statement of it can be inverted (CREATE, ADD COLUMN, RENAME). A
    migration applied by wrangler gets derived down SQL only while the live schema is
    exactly what the applied files build. A captured copy runs only while it matches the
    checksum stored with it (edited in the database, it is refused); the confirmation
    lists every statement that will run and where it comes from.

    What a failure leaves behind: without --group, the rollbacks before the failing one stay
    done. With --group (e.g. --steps N --group), every rollback and its tracking rows run as
    one atomic unit (remote: one request): a failure leaves all of them applied. Locally a
    snapshot is taken first; with --remote, each rollback runs on Cloudflare as one atomic
    batch.

    Example:

        worktime d1 migrations rollback worktime-db --steps 2
        worktime d1 migrations rollback worktime-db --to 0001_initial_schema --dry-run
        worktime d1 migrations rollback worktime-db --remote --yes
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import preflight
    from worktime_cli.migrations.rollback_plan import check_rollback_options

    with open_context(
        target,
        local_only={"--persist-to": target.persist_to},
    ) as ctx:
        check_rollback_options(steps, to, all_)  # before any request or file access
        migrations = ctx.migrations(database)
        planned = preflight.plan_rollback_for(migrations, steps=steps, to=to, all=all_)
        target_line = migrations_run.aim(ctx, migrations) if planned.steps and not dry_run else None
        if planned.steps and not dry_run:
            names = ", ".join(s.name for s in planned.steps)
            output.confirm(
                f"{_down_listing(planned)}\n"
                f"Roll back {len(planned.steps)} migration(s) of {migrations.label} ({names})? "
                f"Their data will be dropped ({migrations.undo_note}).",
                yes=yes,
                action=f"roll back migrations of {migrations.label}",
            )
        migrations_run.run(
            migrations,
            planned,
            dry_run=dry_run,
            json=json,
            human=lambda r: _show_rollback(r, ctx.config.env),
            group=group,
            aimed=target_line,
        )


def _show_rollback(result: RunResult, env: str | None = None) -> None:
    if not result.migrations:
        output.info("no migrations to roll back")
        return
    if result.dry_run:
        for m in result.migrations:
            output.print_value(f"-- rollback of {m.name} ({_origin(m.source)})")
            output.print_value((m.sql or "").rstrip("\n"))
        output.info(
            f"dry run: {len(result.migrations)} migration(s) would be rolled back; nothing changed"
        )
        return
    output.print_table(
        ["name", "status", "down SQL from"],
        [[m.name, m.status, _source(m.source)] for m in result.migrations],
    )
    if result.error is None:
        output.success(
            f"rolled back {len(result.rolled_back)} migration(s) of {result.database} "
            f"in {result.duration_ms / 1000:.2f} s"
        )
    migrations_run.show_snapshot(result, env)


def _down_listing(planned: RunPlan) -> str:
    """The statements each rollback runs and where they come from, for the question. Control
    characters are escaped: down SQL must not be able to hide a statement from the reader
    with terminal escapes."""
    lines = []
    for step in planned.steps:
        lines.append(f"-- {step.name}: {step.origin}")
        lines.extend(statement.sql for statement in step.statements)
    return "\n".join(_visible(line) for line in lines)


def _visible(text: str) -> str:
    return "".join(
        ch if ch in "\n\t" or ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _source(source: str | None) -> str:
    """Where down SQL comes from, under a "down SQL from" heading."""
    return {
        "captured": "the copy captured at apply time",
        "derived": "the up file (derived)",
    }.get(source or "", "the down file")


def _origin(source: str | None) -> str:
    """Where down SQL comes from, as a phrase of its own."""
    if source == "derived":
        return "down SQL derived from the up file"
    return f"down SQL from {_source(source)}"


def down(
    database: DatabaseArg,
    name: Annotated[
        str,
        typer.Argument(help="The migration, e.g. 0002_add_notes.", show_default=False),
    ],
    write: Annotated[
        bool,
        typer.Option("--write", help="Save derived or captured down SQL as the down file."),
    ] = False,
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Print the down SQL a rollback of one migration would run, and where it comes from.

    With --write, save it as migrations/down/NAME to review and commit (never over a down
    file that already holds statements).

    Example:

        worktime d1 migrations down worktime-db 0001_initial_schema
        worktime d1 migrations down worktime-db 0002_add_notes --write
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import reports

    with open_context(target) as ctx:
        result = reports.down_sql(ctx.migrations(database), name, write=write)
    output.render(result, json=json, human=_show_down)


def _show_down(result: DownSQL) -> None:
    output.print_value(result.sql.rstrip("\n"))
    output.info(f"{result.name}: {_origin(result.source)}")
    if result.written is not None:
        output.success(f"wrote {result.written}")
