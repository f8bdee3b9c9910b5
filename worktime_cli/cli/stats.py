"""`worktime stats rebuild|check`: daily_stats recomputed from time_sessions, or compared."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import (
    DatabaseArgument,
    DryRunOption,
    FromOption,
    ToOption,
    TzOption,
    UserOption,
)
from worktime_cli.cli.options import (
    JsonOption,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.admin.stats import Anomalies, Change, CheckResult, RebuildResult, Selection
    from worktime_cli.cli.admin_options import Admin

app = typer.Typer(
    name="stats",
    help="Rebuild and check daily_stats from time_sessions.",
    no_args_is_help=True,
)

_SHOWN = 50


def register(root: typer.Typer) -> None:
    root.add_typer(app)


def _selection(
    admin: Admin, date_from: str | None, date_to: str | None, user: str | None, tz: str | None
) -> Selection:
    from worktime_cli.admin import inputs, stats
    from worktime_cli.cli.admin_options import user_id_of

    start, end = inputs.parse_range(date_from, date_to)
    zone = inputs.parse_zone(tz)
    return stats.Selection(start, end, user_id_of(admin, user), zone)


@app.command("rebuild")
def rebuild(
    database: DatabaseArgument = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    user: UserOption = None,
    tz: TzOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Recompute daily_stats from time_sessions for a range of days, in one transaction.

    Rows whose key survives keep their id; rows left without sessions are deleted; rows
    outside the range or for other users are untouched. Idempotent. With --remote the whole
    rebuild is SQL on D1 sent as one batch (one HTTP request).

    Example:

        worktime stats rebuild --from 2024-06-01 --to 2024-06-30 --dry-run
    """
    from worktime_cli.admin import inputs, stats
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.cli.context import render

    inputs.parse_range(date_from, date_to)  # bad dates are usage errors before any I/O
    inputs.parse_zone(tz)
    with open_admin(database, target) as admin:
        selection = _selection(admin, date_from, date_to, user, tz)
        aimed = None if dry_run else admin.aim()
        planning = dry_run or not yes
        # One batch (one transaction, one request remotely): nothing to count inside it, so
        # the bar on a long run only says it is still working.
        with output.progress(_doing(planning, admin.named), unit=""):
            result = stats.rebuild(admin.db, selection, dry_run=planning)
        # Without --yes the plan comes first: adding missing rows needs no confirmation,
        # changing or deleting existing ones does (and is refused without a terminal).
        if not dry_run and not yes:
            if result.updated or result.deleted:
                output.confirm(
                    f"Rebuild daily_stats of {admin.named}: insert {result.inserted}, "
                    f"update {result.updated}, delete {result.deleted} row(s)?",
                    yes=yes,
                    action=f"update {result.updated} and delete {result.deleted} daily_stats row(s)",
                )
            with output.progress(_doing(False, admin.named), unit=""):
                result = stats.rebuild(admin.db, selection)
    render(result, aimed, json=json, human=_show_rebuild)


def _doing(planning: bool, named: str) -> str:
    return f"{'comparing' if planning else 'rebuilding'} daily_stats of {named}"


@app.command("check")
def check(
    database: DatabaseArgument = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    user: UserOption = None,
    tz: TzOption = None,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Compare daily_stats with time_sessions; exit 1 and list the differences if they disagree.

    Changes nothing: for CI and cron. Completed sessions that cannot count (no duration, a
    start that is not a timestamp…) are reported as anomalies but do not fail the check.

    Example:

        worktime stats check --from 2024-06-01 || worktime stats rebuild --from 2024-06-01 --yes
    """
    from worktime_cli.admin import inputs, stats
    from worktime_cli.cli.admin_options import open_admin

    inputs.parse_range(date_from, date_to)
    inputs.parse_zone(tz)
    with open_admin(database, target) as admin:
        result = stats.check(admin.db, _selection(admin, date_from, date_to, user, tz))
    output.render(result, json=json, human=_show_check)
    if not result.ok:
        raise typer.Exit(1)


def _totals(change: Change) -> str:
    def text(totals: object) -> str:
        if totals is None:
            return "-"
        from worktime_cli.admin.stats import Totals

        assert isinstance(totals, Totals)
        return f"{totals.total_seconds}s/{totals.sessions}"

    return f"{text(change.old)} → {text(change.new)}"


def _changes_table(changes: tuple[Change, ...]) -> None:
    output.print_table(
        ["action", "date", "user", "repo", "total s/sessions (old → new)"],
        [
            [c.action, c.date, c.login or f"#{c.user_id}", c.repo, _totals(c)]
            for c in changes[:_SHOWN]
        ],
    )
    if len(changes) > _SHOWN:
        output.info(f"… and {len(changes) - _SHOWN} more (see --json)")


def _show_anomalies(anomalies: Anomalies) -> None:
    if not anomalies.total:
        return
    output.warn(f"{anomalies.total} completed session(s) cannot count:")
    for a in anomalies.sample:
        output.info(f"  session {a.session_id}: {a.reason}")
    if anomalies.total > len(anomalies.sample):
        output.info(f"  … and {anomalies.total - len(anomalies.sample)} more")


def _show_rebuild(result: RebuildResult) -> None:
    if result.dry_run:
        if result.changes:
            _changes_table(result.changes)
        output.info(
            f"dry run: would insert {result.inserted}, update {result.updated}, "
            f"delete {result.deleted} daily_stats row(s); nothing changed"
        )
    else:
        output.success(
            f"daily_stats rebuilt: {result.inserted} inserted, {result.kept} recomputed in place, "
            f"{result.deleted} deleted"
        )
    _show_anomalies(result.anomalies)


def _show_check(result: CheckResult) -> None:
    if result.ok:
        output.success("daily_stats agrees with time_sessions")
    else:
        _changes_table(result.changes)
        output.error(
            f"daily_stats disagrees with time_sessions in {len(result.changes)} row(s)",
            "fix it with `worktime stats rebuild` (same options)",
        )
    _show_anomalies(result.anomalies)
