"""`worktime login`, `whoami`, `logout`: the Cloudflare API token in the OS keyring."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("login")(login)
    app.command("whoami")(whoami)
    app.command("logout")(logout)


def login(
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
    from worktime_cli.remote import auth

    if token_stdin or not output.is_terminal(sys.stdin):
        token = sys.stdin.read()
    else:
        token = typer.prompt("Cloudflare API token", hide_input=True, err=True)
    identity = auth.login(token)
    output.result(
        identity.to_json(),
        f"logged in: token {identity.token.id} is {identity.token.status}; stored in the keyring",
        json=json,
    )
    for account in identity.accounts:
        output.info(f"account: {account.name} ({account.id})")
    if auth.token_from_environment():
        output.warn("CLOUDFLARE_API_TOKEN is set and is used instead of the stored token")


def whoami(json: JsonOption = False) -> None:
    """Show which API token is in use, whether it is active, and its accounts (never the token).

    Example:

        worktime whoami --json
    """
    from worktime_cli.remote import auth

    identity = auth.whoami()
    if json:
        output.print_json(identity.to_json())
        return
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

    removed = auth.logout()
    if json:
        output.print_json({"removed": removed})
        return
    if removed:
        output.success("logged out: the API token was removed from the keyring")
    else:
        output.info("no API token was stored; nothing to do")
    if auth.token_from_environment():
        output.warn("CLOUDFLARE_API_TOKEN is still set in this environment")
