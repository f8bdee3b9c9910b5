"""`worktime d1 time-travel info|restore`: D1 Time Travel bookmarks on Cloudflare (remote only)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    ProjectTarget,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.remote.time_travel import BookmarkInfo, RestoreResult

app = typer.Typer(
    name="time-travel",
    help="Find and restore D1 Time Travel bookmarks of a remote database (Cloudflare keeps 30 days).",
    no_args_is_help=True,
)

TimestampOption = Annotated[
    str | None,
    typer.Option(
        "--timestamp",
        metavar="TIME",
        help="Unix seconds or an RFC 3339 time with a zone (2026-12-01T10:00:00Z), within 30 days.",
    ),
]
# Time Travel exists only on Cloudflare: --remote is wrangler's spelling and changes nothing,
# --local is refused with the local way back named.
RemoteOption = Annotated[
    bool, typer.Option("--remote", help="Accepted for wrangler's spelling; always remote.")
]
LocalOption = Annotated[
    bool,
    typer.Option("--local", help="Refused: locally, `worktime d1 restore` restores a snapshot."),
]


def register(d1_app: typer.Typer) -> None:
    """Add `time-travel` under the `d1` group."""
    d1_app.add_typer(app)


def _refuse_local(local: bool) -> None:
    if local:
        from worktime_cli.errors import UsageError

        raise UsageError(
            "Time Travel is Cloudflare's: it has no local database",
            hint="locally, `worktime d1 restore DATABASE` restores a snapshot",
        )


@app.command("info")
def info(
    database: DatabaseArg,
    timestamp: TimestampOption = None,
    remote: RemoteOption = False,
    local: LocalOption = False,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Print the remote database's Time Travel bookmark now, or at --timestamp.

    Always remote (--remote is accepted and changes nothing; --local is refused).

    Example:

        worktime d1 time-travel info worktime-db
        worktime d1 time-travel info worktime-db --timestamp 2026-12-01T10:00:00Z --json
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.remote import time_travel

    _refuse_local(local)
    with open_context(replace(target, remote=True)) as ctx:
        found = time_travel.info(ctx.client, ctx.config, database, timestamp=timestamp)
    output.render(found, json=json, human=_show_info)


def _show_info(found: BookmarkInfo) -> None:
    output.print_value(found.bookmark)
    when = f"at {found.timestamp}" if found.timestamp else "now"
    output.info(f"the bookmark of {found.database} {when}; to restore to it:")
    output.info(f"  {found.restore_command}")


@app.command("restore")
def restore(
    database: DatabaseArg,
    bookmark: Annotated[
        str | None,
        typer.Option(
            "--bookmark", metavar="BOOKMARK", help="The bookmark to restore (from `info`)."
        ),
    ] = None,
    timestamp: TimestampOption = None,
    yes: YesOption = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Restore the remote database to a bookmark or a time: its content then replaces today's.

    Give exactly one of --bookmark and --timestamp. Every row and table is overwritten and
    in-flight queries are cancelled; the answer names the bookmark that undoes the restore.
    Always remote (--remote is accepted and changes nothing; --local is refused).

    Example:

        worktime d1 time-travel restore worktime-db --bookmark 00000085-0000024c-00004c6d-8e61117b
        worktime d1 time-travel restore worktime-db --timestamp 2026-12-01T10:00:00Z --yes
    """
    from worktime_cli.cli.context import open_context, render
    from worktime_cli.remote import time_travel

    _refuse_local(local)
    with open_context(replace(target, remote=True)) as ctx:
        plan = time_travel.plan_restore(
            ctx.client, ctx.config, database, bookmark_id=bookmark, timestamp=timestamp
        )
        aimed = ctx.aim("d1_database", plan.database, lambda: plan.database_id)
        output.confirm(
            f"Overwrite every row and table of the remote database {plan.database} with its "
            f"content at bookmark {plan.bookmark}? In-flight queries will be cancelled.",
            yes=yes,
            action=f"restore the remote database {plan.database}",
        )
        result = time_travel.restore(ctx.client, plan)
    render(result, aimed, json=json, human=_show_restore)


def _show_restore(result: RestoreResult) -> None:
    output.success(f"restored {result.database} to bookmark {result.bookmark}")
    if result.undo_command is not None:
        output.info(f"to undo the restore: `{result.undo_command}`")
