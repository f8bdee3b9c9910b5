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
        help="Path to wrangler.toml (default: the nearest one in this folder or a parent).",
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
    typer.Option("--yes", "-y", help="Do not ask for confirmation (needed when not interactive)."),
]
RemoteOption = Annotated[
    bool, typer.Option("--remote", help="Act on Cloudflare's API instead of the local state.")
]
EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env", "-e", help="Environment name: reads .dev.vars.<env> instead of .dev.vars."
    ),
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local", help="Act on the local state (the default; accepted as wrangler spells it)."
    ),
]
