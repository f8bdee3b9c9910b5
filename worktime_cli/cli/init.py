"""`worktime init`: scaffold a project and its local D1 + KV, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption, PersistOption, YesOption

if TYPE_CHECKING:
    from worktime_cli.scaffold import InitResult


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Project folder (created if missing).", file_okay=False),
    ] = Path("."),
    name: Annotated[
        str, typer.Option(help="Worker name for a new wrangler.toml.")
    ] = "worktime-backend",
    yes: YesOption = False,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Create or complete a project: wrangler.toml, migrations, local D1 and KV.

    Writes wrangler.toml, migrations/, .dev.vars.example and .gitignore entries, then creates
    the local D1 database (migrations applied) and KV namespace. Re-running changes nothing
    that exists and fills in only what is missing.

    Example:

        worktime init backend && cd backend && worktime dev
    """
    from worktime_cli import scaffold

    target = directory.resolve()
    if (
        target.is_dir()
        and not (target / "wrangler.toml").exists()
        and any(p.name != ".git" for p in target.iterdir())
    ):
        output.confirm(
            f"{target} is not empty and has no wrangler.toml. Add a worktime project there?",
            yes=yes,
            action=f"initialise a project in the non-empty folder {target}",
        )
    result = scaffold.init(target, name=name, persist_to=persist_to)
    if json:
        output.print_json(result.to_json())
        return
    _closing_panel(result)


def _closing_panel(result: InitResult) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    if result.created:
        body.append("Created\n", style="bold")
        for item in result.created:
            body.append("  + ", style="green")
            body.append(item + "\n")
    else:
        body.append("Nothing to do: the project is complete.\n", style="bold")
    if result.kept:
        body.append("Already there (unchanged)\n", style="bold")
        body.append("  " + ", ".join(result.kept) + "\n")
    for warning in result.warnings:
        body.append("warning: ", style="yellow bold")
        body.append(warning + "\n")
    if result.missing_secrets:
        body.append("Still missing\n", style="bold")
        body.append("  secrets: " + ", ".join(result.missing_secrets) + "\n")
    body.append("Next\n", style="bold")
    cd = Path.cwd().resolve() != result.root
    if cd:
        body.append(f"  cd {result.root}\n")
    if result.missing_secrets and result.warnings:
        # No usable keyring: the local file is the way to give values.
        body.append("  cp .dev.vars.example .dev.vars   # then edit the values\n")
    else:
        for name in result.missing_secrets:
            body.append(f"  worktime secret put {name}\n")
    body.append("  worktime dev")
    # soft_wrap off: long lines wrap inside the panel instead of being cut at its border.
    output.stderr().print(
        Panel(body, title=f"worktime project in {result.root}", expand=False), soft_wrap=False
    )
