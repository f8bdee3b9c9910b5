"""`worktime secret …`: secret values in the OS keyring, for local development, and with
`--remote` (and `push`) the deployed Worker's secrets through Cloudflare's API.

Values are read from a hidden prompt on a terminal, or from standard input when piped,
never from argv: arguments are visible in `ps` and saved in shell history. The CLI context
hands each command a secret store (the keyring, or the Worker with `--remote`); the command
never asks which one it has.

This module only wires the group: `secret_store` (put, list, delete, bulk), `secret_sync`
(diff, push, adopt), and `secret_input` (names and values read safely) that they share.
"""

from __future__ import annotations

import typer

from worktime_cli.cli import secret_store, secret_sync
from worktime_cli.cli.secret_input import CATCH_EXTRA

app = typer.Typer(
    name="secret",
    help="Keep local secret values in the OS keyring (Keychain, Credential Locker, Secret Service).",
    no_args_is_help=True,
)
app.command("put", context_settings=CATCH_EXTRA)(secret_store.put)
app.command("list")(secret_store.list_)
app.command("diff")(secret_sync.diff)
app.command("adopt")(secret_sync.adopt)
app.command("delete")(secret_store.delete)
app.command("bulk")(secret_store.bulk)
app.command("push")(secret_sync.push)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.add_typer(app)
