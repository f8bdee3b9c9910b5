"""`worktime login`, `whoami`, `logout`: the Cloudflare API token in the OS keyring."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption

if TYPE_CHECKING:
    from worktime_cli.remote.auth import Identity, LogoutResult

# Extra words are refused by `login` itself: Click's own error would quote them, and the
# usual extra word is a pasted token.
CATCH_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("login", context_settings=CATCH_EXTRA)(login)
    app.command("whoami")(whoami)
    app.command("logout")(logout)


def login(
    click_context: typer.Context,
    json: JsonOption = False,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--stdin", help="Read the token from stdin (the default when stdin is not a terminal)."
        ),
    ] = False,
) -> None:
    """Store a Cloudflare API token in the OS keyring, after verifying it.

    The token is read from a hidden prompt, or from stdin when piped. It is checked with
    Cloudflare (GET /user/tokens/verify) and only stored when active. CLOUDFLARE_API_TOKEN,
    when set, still wins over the stored token.

    Example:

        worktime login
        printf %s "$TOKEN" | worktime login
    """
    from worktime_cli.cli.secret_input import refuse_extra_arguments
    from worktime_cli.remote import auth

    refuse_extra_arguments(
        click_context.args, "worktime login (the token on stdin or at the prompt)"
    )
    if token_stdin or not output.is_terminal(sys.stdin):
        token = sys.stdin.read()
    else:
        token = typer.prompt("Cloudflare API token", hide_input=True, err=True)
    identity = auth.login(token)
    output.render(identity, json=json, human=_logged_in)
    if identity.overridden:
        output.warn("CLOUDFLARE_API_TOKEN is set and is used instead of the stored token")


def _logged_in(identity: Identity) -> None:
    output.success(
        f"logged in: token {identity.token.id} is {identity.token.status}; stored in the keyring"
    )
    for account in identity.accounts:
        output.info(f"account: {account.name} ({account.id})")


def whoami(json: JsonOption = False) -> None:
    """Show which API token is in use, whether it is active, and its accounts (never the token).

    Example:

        worktime whoami --json
    """
    from worktime_cli.remote import auth

    output.render(auth.whoami(), json=json, human=_identity_table)


def _identity_table(identity: Identity) -> None:
    source = (
        "CLOUDFLARE_API_TOKEN"
        if identity.source == "environment"
        else "the keyring (worktime login)"
    )
    output.print_table(
        ["property", "value"],
        [
            ["token from", source],
            ["token id", identity.token.id],
            ["status", identity.token.status],
            ["expires", identity.token.expires_on or "never"],
        ]
        + [["account", f"{a.name} ({a.id})"] for a in identity.accounts],
    )


def logout(json: JsonOption = False) -> None:
    """Remove the stored API token from the OS keyring.

    Example:

        worktime logout
    """
    from worktime_cli.remote import auth

    result = auth.logout()
    output.render(result, json=json, human=_logged_out)
    if result.overridden:
        output.warn("CLOUDFLARE_API_TOKEN is still set in this environment")


def _logged_out(result: LogoutResult) -> None:
    if result.removed:
        output.success("logged out: the API token was removed from the keyring")
    else:
        output.info("no API token was stored; nothing to do")
