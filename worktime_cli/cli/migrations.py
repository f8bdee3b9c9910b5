"""`worktime d1 migrations …` and `worktime d1 restore`: thin wrappers over core migrations."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
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
    from worktime_cli.config import Config, D1Binding
    from worktime_cli.migrations import ApplyResult, MigrationEvent, RollbackResult
    from worktime_cli.remote.migrations import Applied

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


def _refuse_with_remote(remote: bool, **options: object) -> None:
    """Local-only options mean nothing with --remote: a usage error (exit 2), never ignored."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if remote and given:
        raise typer.BadParameter(f"{', '.join(given)} cannot be combined with --remote")


def _outcomes(done: list[Applied], status: str) -> tuple[Any, ...]:
    from worktime_cli.migrations import Outcome

    return tuple(Outcome(a.name, status, float(a.duration_ms)) for a in done)


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
    output.result(
        {"name": up.name, "path": str(up), "down_path": str(down)}, f"created {up.name}", json=json
    )
    output.info(f"up:   {up}")
    output.info(f"down: {down}")


@app.command("list")
def list_(
    database: DatabaseArg,
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """List migrations and whether each is applied, pending, drifted or missing (read-only).

    With --remote, ask the database on Cloudflare; like wrangler, that creates the
    tracking tables there if they do not exist yet.

    Example:

        worktime d1 migrations list worktime-db --json
        worktime d1 migrations list worktime-db --remote
    """
    from worktime_cli import migrations

    _refuse_with_remote(remote, **{"--persist-to": persist_to})
    cfg, db = _database(config, database)
    if remote:
        from worktime_cli.remote import client
        from worktime_cli.remote import d1 as remote_d1
        from worktime_cli.remote import migrations as remote_migrations

        files = remote_migrations.load(migrations.migrations_dir(cfg, db))
        with client.from_environment(cfg) as c:
            found = remote_d1.resolve(c, cfg, database)
            states = remote_migrations.status(c, found.uuid, files, **remote_migrations.tables(db))
        names = (
            migrations.APPLIED,
            migrations.PENDING,
            migrations.DRIFTED,
            migrations.MISSING,
            migrations.UNVERIFIED,
        )
        counts = {name: sum(1 for s in states if s.state == name) for name in names}
        if json:
            output.print_json(
                {
                    "database": db.database_name,
                    "database_id": found.uuid,
                    "remote": True,
                    "migrations": [s.to_json() for s in states],
                    "counts": counts,
                }
            )
            return
        _show_states(states, counts, migrations.migrations_dir(cfg, db))
        return
    result = migrations.status(cfg, db, persist_to)
    if json:
        output.print_json(result.to_json())
        return
    _show_states(result.migrations, result.to_json()["counts"], migrations.migrations_dir(cfg, db))


def _show_states(states: Sequence[Any], counts: dict[str, int], folder: Path) -> None:
    """The `list` table, for local and remote states alike (they share these fields)."""
    if not states:
        output.info(f"no migrations in {folder}")
        return
    output.print_table(
        ["name", "status", "applied at", "down"],
        [
            [
                s.name,
                s.state + (" (out of order)" if s.out_of_order else ""),
                s.applied_at or "",
                "yes" if s.has_down else "no",
            ]
            for s in states
        ],
    )
    output.info(", ".join(f"{n} {state}" for state, n in counts.items() if n))


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
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Apply pending migrations, each in its own transaction, after a snapshot.

    Asks first on a terminal (as wrangler); without a terminal it proceeds.
    A failing migration leaves no trace; the ones before it stay applied.
    With --remote, each migration runs on Cloudflare as one atomic batch, in wrangler's
    protocol (same d1_migrations table); there is no snapshot and no --dry-run.

    Example:

        worktime d1 migrations apply worktime-db
        worktime d1 migrations apply worktime-db --to 0002_add_notes --dry-run
        worktime d1 migrations apply worktime-db --remote
    """
    from worktime_cli import migrations

    _refuse_with_remote(remote, **{"--persist-to": persist_to, "--dry-run": dry_run})
    cfg, db = _database(config, database)
    if remote:
        _apply_remote(
            cfg,
            db,
            to=to,
            yes=yes,
            allow_drift=allow_drift,
            allow_out_of_order=allow_out_of_order,
            json=json,
        )
        return
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


def _apply_remote(
    cfg: Config,
    db: D1Binding,
    *,
    to: str | None,
    yes: bool,
    allow_drift: bool,
    allow_out_of_order: bool,
    json: bool,
) -> None:
    import time

    from worktime_cli import migrations
    from worktime_cli.errors import WorktimeError
    from worktime_cli.remote import client
    from worktime_cli.remote import d1 as remote_d1
    from worktime_cli.remote import migrations as remote_migrations

    files = remote_migrations.load(migrations.migrations_dir(cfg, db))
    done: list[Applied] = []
    started = time.perf_counter()
    with client.from_environment(cfg) as c:
        found = remote_d1.resolve(c, cfg, db.database_name)
        if not yes and output.is_terminal(sys.stdin):
            states = remote_migrations.status(c, found.uuid, files, **remote_migrations.tables(db))
            count = sum(1 for s in states if s.state == migrations.PENDING)
            if count and not typer.confirm(
                f"About to apply up to {count} migration(s) to the remote database "
                f"{found.name}; continue?",
                default=True,
                err=True,
            ):
                raise typer.Exit(1)
        try:
            remote_migrations.apply(
                c,
                found.uuid,
                files,
                to=to,
                allow_drift=allow_drift,
                allow_out_of_order=allow_out_of_order,
                on_applied=_collector(done, json, "applied"),
                **remote_migrations.tables(db),
            )
        except WorktimeError as exc:
            if done:  # the ones before the failure stay applied: show them, then the error
                _show_apply(_apply_result(db, done, started, exc.message), json)
            raise
    _show_apply(_apply_result(db, done, started, None), json)


def _collector(done: list[Applied], json: bool, verb: str) -> Callable[[Applied], None]:
    """Collects each remote migration as it completes; on a terminal, says so at once."""
    live = not json and output.is_terminal(sys.stderr)

    def collect(item: Applied) -> None:
        done.append(item)
        if live:
            output.info(f"{verb} {item.name}")

    return collect


def _apply_result(
    db: D1Binding, done: list[Applied], started: float, error: str | None
) -> ApplyResult:
    import time

    from worktime_cli import migrations

    return migrations.ApplyResult(
        database=db.database_name,
        dry_run=False,
        migrations=_outcomes(done, migrations.APPLIED),
        duration_ms=(time.perf_counter() - started) * 1000,
        error=error,
    )


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
    remote: RemoteOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Roll back applied migrations, newest first, using their down SQL, after a snapshot.

    The down SQL comes from migrations/down/NAME, or, if that file is gone (another git
    branch), from the copy captured when the migration was applied. With --remote, each
    rollback runs on Cloudflare as one atomic batch (no snapshot, no --dry-run).

    Example:

        worktime d1 migrations rollback worktime-db --steps 2
        worktime d1 migrations rollback worktime-db --to 0001_initial_schema --dry-run
        worktime d1 migrations rollback worktime-db --remote --yes
    """
    from worktime_cli import migrations

    _refuse_with_remote(remote, **{"--persist-to": persist_to, "--dry-run": dry_run})
    cfg, db = _database(config, database)
    if remote:
        if sum(x is not None and x is not False for x in (steps, to, all_ or None)) > 1:
            raise typer.BadParameter("give at most one of --steps, --to or --all")
        _rollback_remote(cfg, db, steps=None if all_ else (steps or 1), to=to, yes=yes, json=json)
        return
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


def _rollback_remote(
    cfg: Config, db: D1Binding, *, steps: int | None, to: str | None, yes: bool, json: bool
) -> None:
    import time

    from worktime_cli import migrations
    from worktime_cli.errors import WorktimeError
    from worktime_cli.remote import client
    from worktime_cli.remote import d1 as remote_d1
    from worktime_cli.remote import migrations as remote_migrations

    files = remote_migrations.load(migrations.migrations_dir(cfg, db))
    # Confirm before any request: without a terminal and --yes, nothing is sent.
    what = (
        "every migration"
        if steps is None and to is None
        else (
            f"the migrations applied after {to}"
            if to is not None
            else f"the newest {steps} migration(s)"
        )
    )
    output.confirm(
        f"Roll back {what} of the remote database {db.database_name}? "
        "Their data will be dropped (there is no snapshot on Cloudflare).",
        yes=yes,
        action=f"roll back migrations of the remote database {db.database_name}",
    )
    done: list[Applied] = []
    started = time.perf_counter()

    def result(error: str | None) -> RollbackResult:
        return migrations.RollbackResult(
            database=db.database_name,
            dry_run=False,
            migrations=_outcomes(done, migrations.ROLLED_BACK),
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error,
        )

    with client.from_environment(cfg) as c:
        found = remote_d1.resolve(c, cfg, db.database_name)
        try:
            remote_migrations.rollback(
                c,
                found.uuid,
                files,
                steps=steps,
                to=to,
                on_rolled_back=_collector(done, json, "rolled back"),
                **remote_migrations.tables(db),
            )
        except WorktimeError as exc:
            if done:
                _show_rollback(result(exc.message), json)
            raise
    _show_rollback(result(None), json)


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
    output.result(
        {"database": db.database_name, "name": file.name, "status": "applied"},
        f"marked {file.name} as applied to {db.database_name} (no SQL was run)",
        json=json,
    )


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
    output.result(result.to_json(), f"restored {db.database_name} from {chosen.name}", json=json)
    if result.previous is not None:
        output.info(f"the content before the restore is in snapshot {result.previous.name}")
