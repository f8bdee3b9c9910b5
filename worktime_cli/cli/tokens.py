"""`worktime tokens list|audit|revoke`: the GitHub tokens the Worker keeps in KV (never their values)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    JsonOption,
    Target,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.admin.tokens import Audit, Revoked, Token, TokenList

app = typer.Typer(
    name="tokens",
    help="List, audit and revoke the GitHub tokens stored in KV.",
    no_args_is_help=True,
)
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
    database: DatabaseOption = None,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """List token keys with their owner and time to expiry (7-day TTL); values are never shown.

    The namespace and key prefix come from [vars] GITHUB_TOKEN_KV_BINDING (default KV) and
    GITHUB_TOKEN_KV_PREFIX (default github_token:) in wrangler.toml, as the Worker reads them.

    Example:

        worktime tokens list --remote
    """
    from worktime_cli.admin import tokens
    from worktime_cli.cli.admin_options import open_admin

    with (
        open_admin(database, target) as admin,
        admin.tokens() as (where, namespace),
    ):
        result = tokens.list_tokens(admin.db, namespace, where)
    output.render(result, json=json, human=_show_list)


def _left(token: Token) -> str:
    from worktime_cli.admin.report import hours

    left = token.seconds_left
    if left is None:
        return "no expiry"
    return "expired" if left <= 0 else hours(left)


def _rows(tokens: list[Token]) -> list[list[object]]:
    return [[t.key, t.login or "(no user)", _left(t), t.state] for t in tokens]


def _show_list(result: TokenList) -> None:
    if not result.tokens:
        output.info(f"no keys under {result.prefix!r} in KV namespace {result.binding}")
        return
    output.print_table(["key", "user", "expires in", "state"], _rows(list(result.tokens)))


@app.command("audit")
def audit(
    database: DatabaseOption = None,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Find expired-but-not-purged tokens, tokens expiring within 24 h, orphans and users without one.

    Example:

        worktime tokens audit --json
    """
    from worktime_cli.admin import tokens
    from worktime_cli.cli.admin_options import open_admin

    with (
        open_admin(database, target) as admin,
        admin.tokens() as (where, namespace),
    ):
        result = tokens.audit(admin.db, namespace, where)
    output.render(result, json=json, human=_show_audit)


def _show_audit(result: Audit) -> None:
    sections = [
        ("expired, not yet purged", result.expired),
        ("expiring within 24 h", result.expiring),
        ("orphans (no user row)", result.orphans),
    ]
    output.info(f"{len(result.tokens.tokens)} token key(s) in KV namespace {result.tokens.binding}")
    for title, found in sections:
        if found:
            output.print_table(["key", "user", "expires in", "state"], _rows(found), title=title)
        else:
            output.info(f"{title}: none")
    if result.users_without_token:
        output.print_value("users without a token: " + ", ".join(result.users_without_token))
    else:
        output.info("users without a token: none")


@app.command("revoke")
def revoke(
    login: Annotated[str, typer.Argument(help="The user's GitHub login.")],
    database: DatabaseOption = None,
    yes: YesOption = False,
    json: JsonOption = False,
    target: Target = Target(),
) -> None:
    """Delete a user's GitHub token from KV (they sign in again to get a new one).

    Example:

        worktime tokens revoke alice --yes
    """
    from worktime_cli.admin import tokens, users
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.cli.context import render

    with open_admin(database, target) as admin:
        user = users.resolve(admin.db, login)
        with admin.tokens() as (where, namespace):
            aimed = admin.aim_tokens(where, namespace)
            output.confirm(
                f"Delete the GitHub token of {user.login} ({where.key(user.github_user_id)})?",
                yes=yes,
                action=f"revoke the token of {user.login}",
            )
            result = tokens.revoke(namespace, where, user.login, user.github_user_id)
    render(result, aimed, json=json, human=_show_revoked)


def _show_revoked(result: Revoked) -> None:
    if result.existed:
        output.success(f"deleted {result.key} ({result.login})")
    else:
        output.info(f"{result.login} has no token stored ({result.key}); nothing to delete")
