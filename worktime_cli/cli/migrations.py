"""`worktime d1 migrations …` and `worktime d1 restore`: thin wrappers over the one engine.

Every command asks the context for the migrations target (local, or `--remote`) and hands
it to `worktime_cli.migrations.engine`; the same mistake gets the same words either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.migrations_rehearse import RehearseOnlyOption, RehearseOption
from worktime_cli.cli.options import (
    ConfigOption,
    EnvOption,
    JsonOption,
    LocalOption,
    PersistOption,
    PreviewOption,
    RemoteOption,
    YesOption,
    env_flag,
)

if TYPE_CHECKING:
    from worktime_cli.cli.context import Context
    from worktime_cli.d1.snapshots import RestoreResult, SnapshotList
    from worktime_cli.migrations import (
        CreatedMigration,
        MarkResult,
        MigrationEvent,
        RunPlan,
        RunResult,
        Status,
    )
    from worktime_cli.migrations.alter import CreatedAlter
    from worktime_cli.migrations.engine import DownSQL
    from worktime_cli.migrations.lint import LintResult
    from worktime_cli.migrations.verify import VerifyResult
    from worktime_cli.project.config import Config
    from worktime_cli.targets.migrations import MigrationsTarget
    from worktime_cli.targets.remote_write import RemoteWrite

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
    """Add `migrations`, `restore` and `reset` under the `d1` group."""
    from worktime_cli.cli import time_travel
    from worktime_cli.cli.reset import reset

    d1_app.add_typer(app)
    d1_app.command("restore")(restore)
    d1_app.command("reset")(reset)
    time_travel.register(d1_app)


@app.command("create")
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
    config: ConfigOption = None,
    env: EnvOption = None,
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

        with open_context(config=config, env=env) as ctx:
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
    with open_context(config=config, env=env) as ctx:
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


@app.command("list")
def list_(
    database: DatabaseArg,
    remote: RemoteOption = False,
    preview: PreviewOption = None,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
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
    from worktime_cli.migrations import engine

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
        remote_only={"--preview": preview},
    ) as ctx:
        target = ctx.migrations(database, preview=bool(preview))
        result = engine.status(target)
        folder = target.folder
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
    remote: RemoteOption = False,
    preview: PreviewOption = None,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
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
    from worktime_cli.migrations import engine

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
        remote_only={"--preview": preview},
    ) as ctx:
        target = ctx.migrations(database, preview=bool(preview))
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
        planned = engine.plan_apply_for(
            target,
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
        target_line = _aim(ctx, target) if count and not dry_run else None
        if (
            count
            and not dry_run
            and not yes
            and output.is_terminal(sys.stdin)
            and not typer.confirm(
                f"About to apply {count} migration(s) to {target.label}; continue?",
                default=True,
                err=True,
            )
        ):
            raise typer.Exit(1)
        _run(
            target,
            planned,
            dry_run=dry_run,
            json=json,
            human=lambda r: _show_apply(r, ctx.config.env),
            group=group,
            aimed=target_line,
            extra=None if rehearsed is None else {"rehearsal": rehearsed.to_json()},
        )


def _run(
    target: MigrationsTarget,
    planned: RunPlan,
    *,
    dry_run: bool,
    json: bool,
    human: Callable[[RunResult], None],
    group: bool = False,
    aimed: RemoteWrite | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    """Run a plan and show its result; on failure, what went through, then the error."""
    from worktime_cli.cli.context import render
    from worktime_cli.migrations import MigrationError, engine

    verb = "applying" if planned.operation == "apply" else "rolling back"
    try:
        # A remote run can take minutes (one request per migration): a bar on a terminal.
        with output.progress(f"{verb} migrations", len(planned.steps), unit="migrations") as bar:
            result = engine.run(
                target, planned, dry_run=dry_run, on_event=_event_printer(verb, bar), group=group
            )
    except MigrationError as exc:
        _warn(exc.result)
        # With --json the error boundary prints the one error envelope on stdout; a second
        # JSON document before it would break scripts that parse stdout whole.
        if not json:
            human(exc.result)
        raise
    _warn(result)
    if json and extra:
        from worktime_cli.targets.remote_write import with_target

        output.print_json({**with_target(result.to_json(), aimed), **extra})
        return
    render(result, aimed, json=json, human=human)


def _aim(ctx: Context, target: MigrationsTarget) -> RemoteWrite | None:
    """The database a run changes, said first (remote only; see `Context.aim`)."""
    return ctx.aim(
        "d1_database",
        target.binding.database_name,
        lambda: target.location().get("database_id"),
    )


def _warn(result: RunResult) -> None:
    for warning in result.warnings:
        output.warn(warning)


def _event_printer(verb: str, bar: output.Bar) -> Callable[[MigrationEvent], None]:
    def show(event: MigrationEvent) -> None:
        # The way back is said before anything changes, terminal or not (it is talk: stderr).
        if event.kind == "restore-point":
            output.info(f"Time Travel bookmark before this run: {event.name}")
            output.info(f"to go back: {event.undo}")
        elif event.kind == "start":
            output.detail(f"[{event.index}/{event.total}] {event.name} …")
            bar.describe(f"{verb} {event.name}")
            bar.update(event.index - 1, event.total)
        elif event.kind == "done":
            bar.update(event.index, event.total)

    return show


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
    _show_snapshot(result, env)


def _show_snapshot(result: RunResult, env: str | None) -> None:
    # The engine keeps a snapshot only when the run changed something, so this never
    # suggests a restore that would restore nothing.
    if result.snapshot is None:
        return
    command = getattr(result.snapshot, "command", "")  # remote: a Time Travel bookmark
    if command:
        output.info(f"Time Travel bookmark before: {result.snapshot.name} (undo with `{command}`)")
    else:
        output.info(
            f"snapshot taken before: {result.snapshot.name} "
            f"(undo with `worktime d1 restore {result.database}{env_flag(env)}`)"
        )


@app.command("rollback")
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
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
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
    from worktime_cli.migrations import engine
    from worktime_cli.migrations.plan import check_rollback_options

    with open_context(
        config=config,
        persist_to=persist_to,
        remote=remote,
        local=local,
        env=env,
        local_only={"--persist-to": persist_to},
    ) as ctx:
        check_rollback_options(steps, to, all_)  # before any request or file access
        target = ctx.migrations(database)
        planned = engine.plan_rollback_for(target, steps=steps, to=to, all=all_)
        target_line = _aim(ctx, target) if planned.steps and not dry_run else None
        if planned.steps and not dry_run:
            names = ", ".join(s.name for s in planned.steps)
            output.confirm(
                f"{_down_listing(planned)}\n"
                f"Roll back {len(planned.steps)} migration(s) of {target.label} ({names})? "
                f"Their data will be dropped ({target.undo_note}).",
                yes=yes,
                action=f"roll back migrations of {target.label}",
            )
        _run(
            target,
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
    _show_snapshot(result, env)


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


OptionalDatabaseArg = Annotated[
    str | None,
    typer.Argument(
        help="The database's database_name or binding (default: the only one configured).",
        show_default=False,
    ),
]


def _only_database(cfg: Config, database: str | None) -> str:
    from worktime_cli.errors import UsageError

    if database is not None:
        return database
    names = [db.database_name for db in cfg.d1_databases]
    if len(names) != 1:
        raise UsageError(
            "name the database: "
            + (f"{cfg.path.name} configures {', '.join(names)}" if names else "none is configured")
        )
    return names[0]


@app.command("down")
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
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
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
    from worktime_cli.migrations import engine

    with open_context(config=config, env=env, persist_to=persist_to) as ctx:
        result = engine.down_sql(ctx.migrations(database), name, write=write)
    output.render(result, json=json, human=_show_down)


def _show_down(result: DownSQL) -> None:
    output.print_value(result.sql.rstrip("\n"))
    output.info(f"{result.name}: {_origin(result.source)}")
    if result.written is not None:
        output.success(f"wrote {result.written}")


@app.command("verify")
def verify(
    database: OptionalDatabaseArg = None,
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """Replay every migration in memory: up, down, up again; report each that does not hold.

    For each migration on a scratch database: its up must run on what the ones before it
    built; its down SQL (file, or derived) must restore the schema from before; up again
    must build the same schema. An up that fails is reported with each statement of it that
    fails, and the migrations after it are still checked. Exits 1 on any problem, with a
    schema diff. The real database is not read.

    Example:

        worktime d1 migrations verify
        worktime d1 migrations verify worktime-db --json
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import engine

    with open_context(config=config, env=env) as ctx:
        result = engine.verify_all(ctx.migrations(_only_database(ctx.config, database)))
    output.render(result, json=json, human=_show_verified)
    if not result.ok:
        raise typer.Exit(1)


@app.command("lint")
def lint(
    database: OptionalDatabaseArg = None,
    config: ConfigOption = None,
    env: EnvOption = None,
    json: JsonOption = False,
) -> None:
    """Find D1's hazards in the migration files before apply: code, severity, file:line, fix.

    Errors: a statement that fails on the schema the migrations before it build (the check
    goes on past it), DROP TABLE of a parent with ON DELETE CASCADE children (their rows
    go, even in a rebuild: D1 cannot turn foreign keys off), PRAGMA foreign_keys = OFF,
    BEGIN/COMMIT, statements over 100,000 bytes, tables over 100 columns, trigger bodies
    D1's splitter cuts (CRLF, lowercase begin, CASE … END). Warnings: destructive
    statements, ADD COLUMN NOT NULL without DEFAULT, quote marks in comments. Exits 1 on
    any error.

    Example:

        worktime d1 migrations lint
        worktime d1 migrations lint worktime-db --json
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import engine

    with open_context(config=config, env=env) as ctx:
        result = engine.lint_all(ctx.migrations(_only_database(ctx.config, database)))
    output.render(result, json=json, human=_show_lint)
    if not result.ok:
        raise typer.Exit(1)


def _show_lint(result: LintResult) -> None:
    for f in result.findings:
        line = f"{f.where}: {f.code}: {f.message}"
        if f.severity == "error":
            output.error(line, hint=f"fix: {f.fix}")
        else:
            output.warn(f"{line} (fix: {f.fix})")
    errors = len(result.errors)
    summary = (
        f"{result.checked} migration(s) of {result.database}: {errors} error(s), "
        f"{len(result.findings) - errors} warning(s)"
    )
    if result.ok:
        output.success(summary)
    else:
        output.info(summary)


def _show_verified(result: VerifyResult) -> None:
    if not result.migrations:
        output.info(f"no migrations for {result.database}")
        return
    output.print_table(
        ["name", "up", "down", "down SQL from"],
        [[m.name, m.up, m.down, m.down_source] for m in result.migrations],
    )
    for m in result.problems:
        output.error(f"{m.name}: {m.error}")
        for line in m.diff:
            output.info(f"  {line}")
    if result.ok:
        output.success(f"verified {len(result.migrations)} migration(s) of {result.database}")


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
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Record a migration as applied without running its SQL (baseline an existing database).

    Example:

        worktime d1 migrations mark-applied worktime-db 0001_initial_schema
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import engine

    with open_context(config=config, env=env, persist_to=persist_to) as ctx:
        result = engine.mark_applied(ctx.migrations(database), name)
    output.render(result, json=json, human=_show_marked)


def _show_marked(result: MarkResult) -> None:
    output.success(f"marked {result.name} as applied to {result.database} (no SQL was run)")


def restore(
    database: DatabaseArg,
    snapshot: Annotated[
        str | None, typer.Argument(help="Snapshot name (default: the newest).", show_default=False)
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the snapshots instead.")] = False,
    yes: YesOption = False,
    config: ConfigOption = None,
    env: EnvOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Restore a local database from the snapshot taken before a migrations apply or rollback.

    The current content is snapshotted first, so a restore can be undone too.

    Example:

        worktime d1 restore worktime-db --list
        worktime d1 restore worktime-db --yes
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.d1 import snapshots

    with open_context(config=config, env=env, persist_to=persist_to) as ctx:
        cfg = ctx.config
        db = cfg.d1(database)
        if list_:
            output.render(
                snapshots.snapshot_list(cfg, db, persist_to), json=json, human=_show_snapshots
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
    output.render(result, json=json, human=lambda r: _show_restored(r, db.database_name))


def _show_snapshots(found: SnapshotList) -> None:
    if not found.snapshots:
        output.info(f"no snapshots of {found.database}")
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
            for s in found.snapshots
        ],
        justify={"size": "right"},
    )


def _show_restored(result: RestoreResult, database: str) -> None:
    output.success(f"restored {database} from {result.restored.name}")
    if result.previous is not None:
        output.info(f"the content before the restore is in snapshot {result.previous.name}")
