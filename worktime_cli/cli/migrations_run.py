"""Running a migrations plan for `apply` and `rollback`: the target named first, progress and
events while it runs, warnings, the result (or what went through before a failure), the way back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from worktime_cli.cli import output
from worktime_cli.cli.options import env_flag

if TYPE_CHECKING:
    from worktime_cli.cli.context import Context
    from worktime_cli.migrations import MigrationEvent, RunPlan, RunResult
    from worktime_cli.targets.migrations import MigrationsTarget
    from worktime_cli.targets.remote_write import RemoteWrite


def run(
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


def aim(ctx: Context, target: MigrationsTarget) -> RemoteWrite | None:
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


def show_snapshot(result: RunResult, env: str | None) -> None:
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
