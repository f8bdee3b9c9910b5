"""`worktime sessions list|close-stale`: the time_sessions table, and sessions left active."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import DatabaseArgument, DryRunOption, UserOption
from worktime_cli.cli.options import (
    JsonOption,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.admin.sessions import CloseResult, SessionList

app = typer.Typer(
    name="sessions",
    help="List time-tracking sessions and close stale ones.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app)


@app.command("list")
def list_(
    database: DatabaseArgument = None,
    user: UserOption = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="Only this repo, OWNER/NAME.", show_default=False)
    ] = None,
    # Bounded as SQLite's INTEGER: a larger number is a usage error, not an overflow.
    pr: Annotated[
        int | None, typer.Option("--pr", help="Only this PR number.", min=1, max=2**63 - 1)
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="active, completed or abandoned.", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Started on or after this day (YYYY-MM-DD, UTC).", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many, newest first.", min=1, max=2**63 - 1)
    ] = 50,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """List sessions, newest first.

    Example:

        worktime sessions list --user alice --status active
    """
    from worktime_cli.admin import inputs, sessions
    from worktime_cli.cli.admin_options import open_admin, user_id_of
    from worktime_cli.errors import UsageError

    pair = inputs.parse_repo(repo)
    day = inputs.parse_date(since, "--since")
    if status is not None and status not in sessions.STATUSES:
        raise UsageError(
            f"--status {status!r} is not a session status",
            hint="use one of: " + ", ".join(sessions.STATUSES),
        )
    if limit < 1:
        raise UsageError(f"--limit {limit} must be at least 1")
    with open_admin(database, target) as admin:
        result = sessions.list_sessions(
            admin.db,
            user_id=user_id_of(admin, user),
            repo=pair,
            pr=pr,
            status=status,
            since=day,
            limit=limit,
        )
    output.render(result, json=json, human=_show_list)


def _show_list(result: SessionList) -> None:
    if not result.sessions:
        output.info("no sessions match")
        return
    output.print_table(
        ["id", "user", "repo", "pr", "status", "start", "end", "seconds"],
        [
            [
                s.id,
                s.login,
                s.repo,
                s.pr_number,
                s.status,
                s.start_time,
                s.end_time,
                s.duration_seconds,
            ]
            for s in result.sessions
        ],
        justify={"id": "right", "pr": "right", "seconds": "right"},
    )


@app.command("close-stale")
def close_stale(
    database: DatabaseArgument = None,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", help="Active sessions started longer ago than this (12h, 2d, 90m)."
        ),
    ] = "12h",
    as_status: Annotated[
        str,
        typer.Option(
            "--as",
            help="abandoned (no end, not counted) or completed (end = min(now, start + cap)).",
        ),
    ] = "abandoned",
    cap: Annotated[
        str,
        typer.Option("--cap", help="With --as completed: the longest a closed session may last."),
    ] = "8h",
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Close sessions a browser left active; rebuild their days of daily_stats in the same transaction.

    Example:

        worktime sessions close-stale --older-than 12h --as completed --cap 8h --yes
    """
    from worktime_cli.admin import inputs, sessions
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.cli.context import render
    from worktime_cli.errors import UsageError

    age = inputs.parse_duration(older_than, "--older-than")
    longest = inputs.parse_duration(cap, "--cap")
    if as_status not in ("abandoned", "completed"):
        raise UsageError(f"--as {as_status!r} must be abandoned or completed")
    with open_admin(database, target) as admin:
        plan = sessions.close_stale(
            admin.db, older_than=age, as_status=as_status, cap=longest, dry_run=True
        )
        aimed = None
        if dry_run or not plan.closed:
            result = plan
        else:
            aimed = admin.aim()
            output.confirm(
                f"Mark {len(plan.closed)} stale session(s) as {as_status} in {admin.database}?",
                yes=yes,
                action=f"close {len(plan.closed)} session(s)",
            )
            result = sessions.close_stale(
                admin.db, older_than=age, as_status=as_status, cap=longest
            )
    render(result, aimed, json=json, human=_show_closed)


def _show_closed(result: CloseResult) -> None:
    if not result.closed:
        output.info(f"no active session started before {result.cutoff} (UTC)")
        return
    output.print_table(
        ["id", "user", "repo", "pr", "start", "becomes", "end", "seconds"],
        [
            [
                c.session.id,
                c.session.login,
                c.session.repo,
                c.session.pr_number,
                c.session.start_time,
                c.new_status,
                c.end_time,
                c.duration_seconds,
            ]
            for c in result.closed
        ],
        justify={"id": "right", "pr": "right", "seconds": "right"},
    )
    verb = "would close" if result.dry_run else "closed"
    days = (
        f"; daily_stats rebuilt for {result.rebuilt_days[0]}…{result.rebuilt_days[1]}"
        if result.rebuilt_days and not result.dry_run
        else ""
    )
    message = f"{verb} {len(result.closed)} session(s){days}"
    if result.dry_run:
        output.info(f"dry run: {message}; nothing changed")
    else:
        output.success(message)
