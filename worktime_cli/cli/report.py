"""`worktime report`: tracked time by day, repo, PR or user, as a table, JSON, CSV or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import FromOption, ToOption, UserOption
from worktime_cli.cli.options import (
    JsonOption,
    Target,
)

if TYPE_CHECKING:
    from worktime_cli.admin.report import Report

_BAR_WIDTH = 30


def register(root: typer.Typer) -> None:
    root.command("report")(report)


def report(
    date_from: FromOption = None,
    date_to: ToOption = None,
    by: Annotated[str, typer.Option("--by", help="Group by day, repo, pr or user.")] = "day",
    user: UserOption = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="Only this repo, OWNER/NAME.", show_default=False)
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Compute from time_sessions instead of daily_stats.")
    ] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write a self-contained HTML page (charts, no script, nothing fetched) to FILE.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database", "-d", help="Database name or binding (default: DB).", show_default=False
        ),
    ] = None,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Report tracked time by day, repo, PR or user (table, JSON, CSV, HTML).

    Reads daily_stats (fast); --exact and --by pr read time_sessions with the same rules.
    On a terminal: a table with a bar chart, readable without colour.

    Example:

        worktime report --by repo --from 2024-06-01 --html report.html
    """
    from worktime_cli.admin import inputs
    from worktime_cli.admin import report as core
    from worktime_cli.cli.admin_options import open_admin, user_id_of
    from worktime_cli.errors import UsageError

    if by not in core.GROUPINGS:
        raise UsageError(f"--by {by!r} must be one of: {', '.join(core.GROUPINGS)}")
    if sum([json, csv]) > 1:
        raise UsageError("--json and --csv cannot be combined")
    start, end = inputs.parse_range(date_from, date_to)
    pair = inputs.parse_repo(repo)
    with open_admin(database, target) as admin:
        filters = core.Filters(start, end, user_id_of(admin, user), pair)
        if html is not None:
            from worktime_cli.admin import html as page
            from worktime_cli.project.config import write_atomic

            board = core.dashboard(admin.db, filters, exact=exact)
            write_atomic(html, page.page(board).encode("utf-8"))
            output.success(f"wrote {html}")
            return
        result = core.report(admin.db, by, filters, exact=exact)
    if csv:
        output.print_value(result.to_csv().rstrip("\n"))
        return
    output.render(result, json=json, human=_show)


def _bar(seconds: int, top: int) -> str:
    # Block characters, not colour: the chart survives NO_COLOR, pipes and screen readers'
    # "hours" column beside it.
    if top <= 0:
        return ""
    eighths = round(_BAR_WIDTH * 8 * seconds / top)
    return "█" * (eighths // 8) + ("▏▎▍▌▋▊▉"[eighths % 8 - 1] if eighths % 8 else "")


def _show(result: Report) -> None:
    from worktime_cli.admin.report import hours

    if not result.lines:
        output.info("no tracked time in this selection")
        return
    top = max(line.total_seconds for line in result.lines)
    output.print_table(
        [result.by, "time", "sessions", ""],
        [
            [line.key, hours(line.total_seconds), line.sessions, _bar(line.total_seconds, top)]
            for line in result.lines
        ],
        justify={"time": "right", "sessions": "right"},
    )
    source = "time_sessions" if result.exact else "daily_stats"
    output.info(
        f"total {hours(result.total_seconds)} in {result.sessions} sessions (from {source})"
    )
