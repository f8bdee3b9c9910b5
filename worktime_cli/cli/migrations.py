"""`worktime d1 migrations …` and `worktime d1 restore`: not implemented yet."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="migrations",
    help="Create, list, apply and roll back D1 migrations.",
    no_args_is_help=True,
)


def register(d1_app: typer.Typer) -> None:
    """Add `migrations` (and `restore`) under the `d1` group."""
    d1_app.add_typer(app)
