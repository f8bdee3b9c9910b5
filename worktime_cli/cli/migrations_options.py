"""The arguments and options the `d1 migrations` commands (and `d1 restore`) share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseArg = Annotated[
    str, typer.Argument(help="The database's database_name or binding.", show_default=False)
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the SQL that would run; change nothing.")
]
