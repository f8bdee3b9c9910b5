"""The --dry-run of `d1 migrations apply` and `rollback`: it prints the SQL (the admin commands' --dry-run shows changes instead)."""

from __future__ import annotations

from typing import Annotated

import typer

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the SQL that would run; change nothing.")
]
