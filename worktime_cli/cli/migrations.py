"""`worktime d1 migrations …` and `worktime d1 restore`: thin wrappers over core migrations."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, JsonOption, PersistOption, YesOption

if TYPE_CHECKING:
    from worktime_cli.config import Config, D1Binding
    from worktime_cli.migrations import ApplyResult, MigrationEvent, RollbackResult

app = typer.Typer(
    name="migrations",
    help="Create, list, apply and roll back D1 migrations (wrangler-compatible files and table).",
    no_args_is_help=True,
)

DatabaseArg = Annotated[
    str, typer.Argument(help="The database's database_name or binding.", show_default=False)
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the SQL that would run; change nothing.")
]


def register(d1_app: typer.Typer) -> None:
    """Add `migrations` (and `restore`) under the `d1` group."""
    d1_app.add_typer(app)
    d1_app.command("restore")(restore)


def _database(config: Path | None, database: str) -> tuple[Config, D1Binding]:
    from worktime_cli import config as configmod

    cfg = configmod.load(config)
    return cfg, cfg.d1(database)


@app.command("create")
def create(
    database: DatabaseArg,
    message: Annotated[
        str,
        typer.Argument(help="What the migration does; becomes the file name.", show_default=False),
    ],
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Create the next numbered migration file and its down (rollback) file.

    Example:

        worktime d1 migrations create worktime-db "add notes"
    """
    from worktime_cli import migrations

    cfg, db = _database(config, database)
    up, down = migrations.create(cfg, db, message)
    if json:
        output.print_json({"name": up.name, "path": str(up), "down_path": str(down)})
        return
    output.success(f"created {up.name}")
    output.info(f"up:   {up}")
    output.info(f"down: {down}")


@app.command("list")
def list_(
    database: DatabaseArg,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List migrations and whether each is applied, pending, drifted or missing (read-only).

    Example:

        worktime d1 migrations list worktime-db --json
    """
    from worktime_cli import migrations

    cfg, db = _database(config, database)
    result = migrations.status(cfg, db, persist_to)
    if json:
        output.print_json(result.to_json())
        return
    if not result.migrations:
        output.info(f"no migrations in {migrations.migrations_dir(cfg, db)}")
        return
    output.print_table(
        ["name", "status", "applied at", "down"],
        [
            [
                m.name,
                m.state + (" (out of order)" if m.out_of_order else ""),
                m.applied_at or "",
                "yes" if m.has_down else "no",
            ]
            for m in result.migrations
        ],
    )
    counts = result.to_json()["counts"]
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    output.info(summary)


@app.command("apply")
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
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Apply pending migrations, each in its own transaction, after a snapshot.

    Asks first on a terminal (as wrangler); without a terminal it proceeds.
    A failing migration leaves no trace; the ones before it stay applied.

    Example:

        worktime d1 migrations apply worktime-db
        worktime d1 migrations apply worktime-db --to 0002_add_notes --dry-run
    """
    from worktime_cli import migrations

    cfg, db = _database(config, database)
    if not dry_run and not yes and output.is_terminal(sys.stdin):
        planned = migrations.plan(
            cfg,
            db,
            persist_to,
            to=to,
            allow_drift=allow_drift,
            allow_out_of_order=allow_out_of_order,
        )
        count = len(planned.migrations)
        if count and not typer.confirm(
            f"About to apply {count} migration(s) to {db.database_name}; continue?",
            default=True,
            err=True,
        ):
            raise typer.Exit(1)
    try:
        result = migrations.apply(
            cfg,
            db,
            persist_to,
            to=to,
            dry_run=dry_run,
            allow_drift=allow_drift,
            allow_out_of_order=allow_out_of_order,
            on_event=_event_printer(json),
        )
    except migrations.MigrationError as exc:
        assert not isinstance(exc.result, migrations.RollbackResult)
        _show_apply(exc.result, json)
        raise
    _show_apply(result, json)


def _event_printer(json: bool) -> Callable[[MigrationEvent], None] | None:
    if json or not output.is_terminal(sys.stderr):
        return None

    def show(event: MigrationEvent) -> None:
        if event.kind == "start":
            output.info(f"[{event.index}/{event.total}] {event.name} …")

    return show


def _show_apply(result: ApplyResult, json: bool) -> None:
    for warning in result.warnings:
        output.warn(warning)
    if json:
        output.print_json(result.to_json())
        return
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
    if result.snapshot is not None:
        output.info(
            f"snapshot taken before: {result.snapshot.name} (undo with `worktime d1 restore {result.database}`)"
        )


@app.command("rollback")
def rollback(
    database: DatabaseArg,
    steps: Annotated[
        int | None,
        typer.Option("--steps", min=1, help="Roll back the newest N migrations (default 1)."),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Roll back everything applied after this migration.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Roll back every applied migration.")] = False,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Roll back applied migrations, newest first, using their down SQL, after a snapshot.

    The down SQL comes from migrations/down/NAME, or, if that file is gone (another git
    branch), from the copy captured when the migration was applied.

    Example:

        worktime d1 migrations rollback worktime-db --steps 2
        worktime d1 migrations rollback worktime-db --to 0001_initial_schema --dry-run
    """
    from worktime_cli import migrations

    cfg, db = _database(config, database)
    if not dry_run:
        planned = migrations.rollback(
            cfg, db, persist_to, steps=steps, to=to, all=all_, dry_run=True
        )
        if planned.migrations:
            names = ", ".join(m.name for m in planned.migrations)
            output.confirm(
                f"Roll back {len(planned.migrations)} migration(s) of {db.database_name} ({names})? "
                "Their data will be dropped (a snapshot is kept).",
                yes=yes,
                action=f"roll back migrations of {db.database_name}",
            )
    try:
        result = migrations.rollback(
            cfg,
            db,
            persist_to,
            steps=steps,
            to=to,
            all=all_,
            dry_run=dry_run,
            on_event=_event_printer(json),
        )
    except migrations.MigrationError as exc:
        assert isinstance(exc.result, migrations.RollbackResult)
        _show_rollback(exc.result, json)
        raise
    _show_rollback(result, json)


def _show_rollback(result: RollbackResult, json: bool) -> None:
    for warning in result.warnings:
        output.warn(warning)
    if json:
        output.print_json(result.to_json())
        return
    if not result.migrations:
        output.info("no migrations to roll back")
        return
    if result.dry_run:
        for m in result.migrations:
            output.print_value(f"-- rollback of {m.name} (down SQL from {_source(m.source)})")
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
    if result.snapshot is not None:
        output.info(
            f"snapshot taken before: {result.snapshot.name} (undo with `worktime d1 restore {result.database}`)"
        )


def _source(source: str | None) -> str:
    return "the copy captured at apply time" if source == "captured" else "the down file"


@app.command("mark-applied")
def mark_applied(
    database: DatabaseArg,
    name: Annotated[
        str,
        typer.Argument(
            help="The migration to record, e.g. 0001_initial_schema.", show_default=False
        ),
    ],
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Record a migration as applied without running its SQL (baseline an existing database).

    Example:

        worktime d1 migrations mark-applied worktime-db 0001_initial_schema
    """
    from worktime_cli import migrations

    cfg, db = _database(config, database)
    file = migrations.mark_applied(cfg, db, persist_to, name)
    if json:
        output.print_json({"database": db.database_name, "name": file.name, "status": "applied"})
        return
    output.success(f"marked {file.name} as applied to {db.database_name} (no SQL was run)")


def restore(
    database: DatabaseArg,
    snapshot: Annotated[
        str | None, typer.Argument(help="Snapshot name (default: the newest).", show_default=False)
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the snapshots instead.")] = False,
    yes: YesOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Restore a database from the snapshot taken before a migrations apply or rollback.

    The current content is snapshotted first, so a restore can be undone too.

    Example:

        worktime d1 restore worktime-db --list
        worktime d1 restore worktime-db --yes
    """
    from worktime_cli import snapshots

    cfg, db = _database(config, database)
    if list_:
        found = snapshots.list_snapshots(cfg, db, persist_to)
        if json:
            output.print_json([s.to_json() for s in found])
            return
        if not found:
            output.info(f"no snapshots of {db.database_name}")
            return
        output.print_table(
            ["name", "time (UTC)", "operation", "size"],
            [
                [
                    s.name,
                    s.created.strftime("%Y-%m-%d %H:%M:%S"),
                    s.operation,
                    output.human_size(s.size),
                ]
                for s in found
            ],
            justify={"size": "right"},
        )
        return
    chosen = snapshots.find(cfg, db, persist_to, snapshot)
    output.confirm(
        f"Replace the current content of {db.database_name} with snapshot {chosen.name} "
        f"(taken before a {chosen.operation})?",
        yes=yes,
        action=f"restore {db.database_name}",
    )
    result = snapshots.restore(cfg, db, persist_to, chosen)
    if json:
        output.print_json(result.to_json())
        return
    output.success(f"restored {db.database_name} from {chosen.name}")
    if result.previous is not None:
        output.info(f"the content before the restore is in snapshot {result.previous.name}")
