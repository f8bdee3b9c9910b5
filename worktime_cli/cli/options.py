"""Options shared by many commands, declared once so their names and help never drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to the wrangler config: wrangler.json, wrangler.jsonc or wrangler.toml "
        "(default: the nearest one, found as wrangler finds it).",
        show_default=False,
        dir_okay=False,
    ),
]
PersistOption = Annotated[
    Path | None,
    typer.Option(
        "--persist-to",
        help="Folder for local state, as wrangler's flag (default: .wrangler/state next to wrangler.toml).",
        show_default=False,
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        "--skip-confirmation",  # wrangler's name for -y on d1 commands
        help="Do not ask for confirmation (needed when not interactive).",
    ),
]
RemoteOption = Annotated[
    bool, typer.Option("--remote", help="Act on Cloudflare's API instead of the local state.")
]
DatabaseArg = Annotated[
    str,
    typer.Argument(
        metavar="DATABASE", help="The database's database_name or binding.", show_default=False
    ),
]
EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        envvar="CLOUDFLARE_ENV",  # wrangler reads the same variable
        help="wrangler environment: the env.NAME bindings, vars and Worker name, and "
        ".dev.vars.NAME instead of .dev.vars.",
        show_default=False,
    ),
]
PreviewOption = Annotated[
    bool | None,
    typer.Option(
        "--preview/--no-preview",
        help="As wrangler: act on the binding's preview_database_id / preview_id; "
        "--no-preview: its production id (D1: --remote only, as wrangler).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="json|pretty",
        help="As wrangler's flag: json is --json, pretty the table (the default here).",
        show_default=False,
    ),
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local", help="Act on the local state (the default; accepted as wrangler spells it)."
    ),
]


def env_flag(env: str | None) -> str:
    """` --env NAME` for a command line printed as advice (`""` for the top level): an undo
    hint without it would act on the top level's database."""
    import shlex

    return "" if env is None else f" --env {shlex.quote(env)}"


def wants_json(json: bool, format: str | None) -> bool:
    """`--json` or wrangler's `--format json|pretty`; anything else is a usage error."""
    from worktime_cli.errors import UsageError

    if format is None:
        return json
    if format not in ("json", "pretty"):
        raise UsageError(f"--format must be json or pretty, not {format!r}")
    if json and format == "pretty":
        raise UsageError("--json and --format pretty cannot be combined", hint="give one of them")
    return json or format == "json"
