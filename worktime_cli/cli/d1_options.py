"""The DATABASE argument the `d1` commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseArg = Annotated[
    str,
    typer.Argument(
        metavar="DATABASE", help="The database's database_name or binding.", show_default=False
    ),
]
