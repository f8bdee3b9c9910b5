"""`worktime init`: scaffold a project and its local D1 + KV, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption, PersistOption, YesOption

if TYPE_CHECKING:
    from worktime_cli.dev.scaffold import InitResult


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
    install: Annotated[
        bool,
        typer.Option(
            "--install", help="Run `npm install` afterwards (needs Node.js; off by default)."
        ),
    ] = False,
    yes: YesOption = False,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Create or complete a project: wrangler.toml, migrations, local D1 and KV.

    Writes wrangler.toml (or extends the wrangler.json, .jsonc or .toml already there, keeping
    its comments), migrations/, .dev.vars.example and .gitignore entries, and the
    Worker itself: src/index.ts (a Hono app with GET /health), package.json (wrangler pinned),
    tsconfig.json and worker-configuration.d.ts (`worktime types`). Then it creates the local
    D1 database (migrations applied) and KV namespace. Re-running changes nothing that exists
    and fills in only what is missing. It never runs npm unless you pass --install, so
    `worktime dev` works without Node.js.

    Example:

        worktime init backend && cd backend && worktime dev
        worktime init backend --install && cd backend && npx wrangler dev
    """
    from worktime_cli.dev import scaffold
    from worktime_cli.project.config import CONFIG_NAMES

    target = directory.resolve()
    if (
        target.is_dir()
        and not any((target / n).is_file() for n in CONFIG_NAMES)
        and any(p.name != ".git" for p in target.iterdir())
    ):
        output.confirm(
            f"{target} is not empty and has no wrangler config. Add a worktime project there?",
            yes=yes,
            action=f"initialise a project in the non-empty folder {target}",
        )
    if install:
        output.info("running npm install (its output follows on stderr)…")
    # npm writes to our stderr: stdout stays data (the --json result).
    result = scaffold.init(
        target, name=name, persist_to=persist_to, install=install, npm_output=_stderr_file()
    )
    if json:
        output.print_json(result.to_json())
        return
    _closing_panel(result)


def _stderr_file() -> IO[str] | None:
    """sys.stderr when it is a real file npm can write to; else None (npm's output captured)."""
    import sys

    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def _closing_panel(result: InitResult) -> None:
    from rich.panel import Panel
    from rich.text import Text

    if output.is_quiet():  # -q: the panel is talk; its warnings still reach stderr
        for warning in result.warnings:
            output.warn(warning)
        return
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
        # install -m 600: a copy only its owner can read, as doctor asks (cp keeps 0644).
        body.append("  install -m 600 .dev.vars.example .dev.vars   # then edit the values\n")
    else:
        for name in result.missing_secrets:
            body.append(f"  worktime secret put {name}\n")
    if not (result.root / "node_modules").is_dir() and (result.root / "package.json").exists():
        body.append("  npm install                      # optional: npx wrangler dev, tsc\n")
    body.append("  worktime dev")
    # soft_wrap off: long lines wrap inside the panel instead of being cut at its border.
    output.stderr().print(
        Panel(body, title=f"worktime project in {result.root}", expand=False), soft_wrap=False
    )
