"""`worktime d1 migrations apply`: lint and replay the pending migrations, ask, run them (after
a rehearsal on a sanitized copy with --rehearse), and show what was applied."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import migrations_run, output
from worktime_cli.cli.migrations_options import DryRunOption
from worktime_cli.cli.migrations_rehearse import RehearseOnlyOption, RehearseOption
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    PreviewTarget,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.migrations import RunResult


def apply(
    database: DatabaseArg,
    to: Annotated[
        str | None, typer.Option("--to", help="Apply up to and including this migration.")
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    allow_drift: Annotated[
        bool, typer.Option("--allow-drift", help="Apply even if applied files changed since.")
    ] = False,
    allow_out_of_order: Annotated[
        bool,
        typer.Option(
            "--allow-out-of-order", help="Apply pending files that sort before applied ones."
        ),
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="Record migrations that hold no SQL statement as applied."
        ),
    ] = False,
    allow_broken_down: Annotated[
        bool,
        typer.Option(
            "--allow-broken-down",
            help="Apply even if a pending migration's down SQL fails verify (warns instead).",
        ),
    ] = False,
    group: Annotated[
        bool,
        typer.Option(
            "--group",
            help="Run them all as ONE atomic unit (remote: one request): all or none.",
        ),
    ] = False,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="CODE",
            help="Apply despite this error-level lint finding (repeatable), e.g. fk-off.",
        ),
    ] = None,
    target: PreviewTarget = Target(),
    json: JsonOption = False,
    rehearse: RehearseOption = False,
    rehearse_only: RehearseOnlyOption = False,
) -> None:
    """Apply pending migrations, each atomically with its tracking row.

    First the pending migrations are linted (as `lint`: error-level findings refuse the
    run unless --allow CODE) and replayed in memory (as `verify`: one whose down SQL does
    not undo it is refused unless --allow-broken-down).

    Asks first on a terminal (as wrangler); without a terminal it proceeds.

    What a failure leaves behind: without --group, each migration is atomic on its own, the
    run stops at the first failure, and the ones before it stay applied. With --group, all
    pending migrations and their tracking rows run as one atomic unit (remote: one /query
    request, one round trip): a failure leaves none of them applied. --group refuses before
    sending when the group does not fit one D1 request (1,000 statements, 10 MB). Locally a snapshot is taken
    first (`worktime d1 restore` undoes the run). With --remote, each migration runs on
    Cloudflare as one atomic batch, in wrangler's protocol (same d1_migrations table).

    Example:

        worktime d1 migrations apply worktime-db
        worktime d1 migrations apply worktime-db --to 0002_add_notes --dry-run
        worktime d1 migrations apply worktime-db --remote
        worktime d1 migrations apply worktime-db --remote --rehearse
    """
    from worktime_cli.cli import migrations_rehearse
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import preflight

    with open_context(
        target,
        local_only={"--persist-to": target.persist_to},
        remote_only={"--preview": target.preview},
    ) as ctx:
        migrations = ctx.migrations(database, preview=bool(target.preview))
        rehearsed = None
        if rehearse or rehearse_only:
            rehearsed = migrations_rehearse.rehearse_first(
                ctx,
                database,
                only=rehearse_only,
                json=json,
                to=to,
                allow=tuple(allow or ()),
                allow_broken_down=allow_broken_down,
                allow_drift=allow_drift,
                allow_out_of_order=allow_out_of_order,
            )
        planned = preflight.plan_apply_for(
            migrations,
            to=to,
            allow_drift=allow_drift,
            allow_out_of_order=allow_out_of_order,
            allow_empty=allow_empty,
            allow_broken_down=allow_broken_down,
            allow=tuple(allow or ()),
        )
        if not json:
            migrations_rehearse.warn_rewrites(ctx, database, planned)
        count = len(planned.steps)
        target_line = migrations_run.aim(ctx, migrations) if count and not dry_run else None
        if (
            count
            and not dry_run
            and not yes
            and output.is_terminal(sys.stdin)
            and not typer.confirm(
                f"About to apply {count} migration(s) to {migrations.label}; continue?",
                default=True,
                err=True,
            )
        ):
            raise typer.Exit(1)
        migrations_run.run(
            migrations,
            planned,
            dry_run=dry_run,
            json=json,
            human=lambda r: _show_apply(r, ctx.config.env),
            group=group,
            aimed=target_line,
            extra=None if rehearsed is None else {"rehearsal": rehearsed.to_json()},
        )


def _show_apply(result: RunResult, env: str | None = None) -> None:
    if result.dry_run:
        if not result.migrations:
            output.info("no migrations to apply")
        for m in result.migrations:
            output.print_value(f"-- {m.name}")
            output.print_value((m.sql or "").rstrip("\n"))
        if result.migrations:
            output.info(
                f"dry run: {len(result.migrations)} migration(s) would be applied; nothing changed"
            )
        return
    if not result.migrations:
        output.success("no migrations to apply")
        return
    output.print_table(["name", "status"], [[m.name, m.status] for m in result.migrations])
    if result.error is None:
        output.success(
            f"applied {len(result.applied)} migration(s) to {result.database} "
            f"in {result.duration_ms / 1000:.2f} s"
        )
    migrations_run.show_snapshot(result, env)
