"""`worktime users list|show|forget`: the backend's users, their time and their token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import DatabaseArgument, DryRunOption
from worktime_cli.cli.options import (
    JsonOption,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.admin.users import Forgotten, UserDetail, UserList

app = typer.Typer(
    name="users",
    help="List, show and forget the backend's users.",
    no_args_is_help=True,
)

LoginArgument = Annotated[
    str | None, typer.Argument(help="The user's GitHub login.", show_default=False)
]
IdOption = Annotated[
    int | None,
    typer.Option(
        "--id",
        help="Select the user by users.id instead.",
        show_default=False,
        min=1,
        max=2**63 - 1,  # SQLite's INTEGER: larger is a usage error, not an overflow
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database", "-d", help="Database name or binding (default: DB).", show_default=False
    ),
]


def register(root: typer.Typer) -> None:
    root.add_typer(app)


@app.command("list")
def list_(
    database: DatabaseArgument = None,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """List users with their sessions, total time and last activity.

    Example:

        worktime users list --json
    """
    from worktime_cli.admin import users
    from worktime_cli.cli.admin_options import open_admin

    with open_admin(database, target) as admin:
        result = users.list_users(admin.db)
    output.render(result, json=json, human=_show_list)


def _show_list(result: UserList) -> None:
    from worktime_cli.admin.report import hours
    from worktime_cli.admin.users import utc_text

    if not result.users:
        output.info("no users")
        return
    output.print_table(
        ["id", "login", "sessions", "active", "time", "last active"],
        [
            [
                u.id,
                u.login,
                u.sessions,
                u.active_sessions,
                hours(u.total_seconds),
                utc_text(u.last_active) or "-",
            ]
            for u in result.users
        ],
        justify={"id": "right", "sessions": "right", "active": "right", "time": "right"},
    )


@app.command("show")
def show(
    login: LoginArgument = None,
    user_id: IdOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Show one user: time per repo, active sessions, and whether a GitHub token is stored.

    The token itself is never read or shown: only its presence and expiry.

    Example:

        worktime users show alice
    """
    from worktime_cli.admin import users
    from worktime_cli.cli.admin_options import open_admin

    with open_admin(database, target) as admin:
        user = users.resolve(admin.db, login, user_id)
        with admin.tokens() as (where, namespace):
            result = users.show(admin.db, namespace, where, user)
    output.render(result, json=json, human=_show_one)


def _show_one(result: UserDetail) -> None:
    from worktime_cli import clock
    from worktime_cli.admin.report import hours
    from worktime_cli.admin.users import utc_text

    s = result.summary
    output.print_value(f"{s.login} (id {s.id}, GitHub id {s.github_user_id})")
    output.print_value(
        f"sessions: {s.sessions} ({s.active_sessions} active), time: {hours(s.total_seconds)}, "
        f"last active: {utc_text(s.last_active) or '-'}"
    )
    if result.token_present:
        left = (
            "no expiry"
            if result.token_expiration is None
            else (f"expires in {hours(max(0, result.token_expiration - int(clock.timestamp())))}")
        )
        output.print_value(f"GitHub token: stored ({result.token_key}, {left})")
    else:
        output.print_value(f"GitHub token: none ({result.token_key})")
    if result.repos:
        output.print_table(
            ["repo", "time", "sessions", "days"],
            [[r.repo, hours(r.total_seconds), r.sessions, r.days] for r in result.repos],
            justify={"time": "right", "sessions": "right", "days": "right"},
        )
    for a in result.active:
        output.print_value(
            f"active: session {a.id} on {a.repo}#{a.pr_number} since {utc_text(a.start_time)}"
        )


@app.command("forget")
def forget(
    login: LoginArgument = None,
    user_id: IdOption = None,
    database: DatabaseOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Delete a user, their sessions and daily_stats, and their GitHub token in KV.

    The D1 part is all-or-nothing. If the token's delete fails afterwards, the message says
    what is left; running the same command again finishes it.

    Example:

        worktime users forget alice --dry-run
    """
    from worktime_cli.admin import users
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.cli.context import render
    from worktime_cli.errors import NotFoundError

    with open_admin(database, target) as admin:
        pending = users.PendingForget(admin.pending_path())
        in_d1 = True
        try:
            user = users.resolve(admin.db, login, user_id)
        except NotFoundError:
            left = pending.get(login) if login is not None else None
            if left is None:
                raise
            user, in_d1 = left, False
        with admin.tokens() as (where, namespace):
            plan = users.forget(
                admin.db, namespace, where, user, pending, dry_run=True, in_d1=in_d1
            )
            aimed = None
            if dry_run:
                result = plan
            else:
                aimed = admin.aim()
                if plan.token_removed:
                    admin.aim_tokens(where, namespace)
                output.confirm(
                    f"Forget {user.login} in {admin.named}: {plan.sessions} session(s), "
                    f"{plan.stats_rows} daily_stats row(s)"
                    f"{', and the GitHub token' if plan.token_removed else ''}?",
                    yes=yes,
                    action=f"forget user {user.login}",
                )
                result = users.forget(admin.db, namespace, where, user, pending, in_d1=in_d1)
    render(result, aimed, json=json, human=_show_forgotten)


def _show_forgotten(result: Forgotten) -> None:
    token = f"GitHub token {result.token_key}" if result.token_removed else "no GitHub token stored"
    what = (
        f"user {result.user.login}, {result.sessions} session(s), "
        f"{result.stats_rows} daily_stats row(s), {token}"
        if result.user_removed
        else f"{token} (the D1 rows were already removed)"
    )
    if result.dry_run:
        output.info(f"dry run: would remove {what}; nothing changed")
    else:
        output.success(f"removed {what}")
