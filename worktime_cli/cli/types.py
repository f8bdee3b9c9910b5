"""`worktime types`: worker-configuration.d.ts from the config and the migrations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption, ProjectTarget, Target

if TYPE_CHECKING:
    from worktime_cli.dev.typegen import TypesResult


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("types")(types)


def types(
    output_file: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write (default: worker-configuration.d.ts next to the config).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 when the file is missing or stale."),
    ] = False,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Write worker-configuration.d.ts: the Env interface and a row type per table.

    `Env` has the members `wrangler types` would write (D1 and KV bindings, vars as literal
    types, secret names from secrets.required or .dev.vars.example as string, never their
    values); the runtime types come from @cloudflare/workers-types. Each table the migrations
    create gets a row type (users -> UsersRow), replayed into a scratch database, so no local
    state is needed: `c.env.DB.prepare(sql).first<UsersRow>()`. Both are global, usable
    without an import. Run it again after changing the config or adding a migration;
    `--check` tells CI when someone forgot.

    Example:

        worktime types
        worktime types --check        # in CI: exit 1 when the file is missing or stale
        worktime types --env production
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.dev import typegen

    # The context loads the whole document (no env): wrangler's rule for secret names looks
    # at every environment's `secrets`, and typegen picks the [env.NAME] section itself.
    with open_context(replace(target, env=None)) as ctx:
        if check:
            result = typegen.check(ctx.config, output=output_file, env=target.env)
        else:
            result = typegen.write(ctx.config, output=output_file, env=target.env)
    output.render(result, json=json, human=_human)
    if not result.ok:
        raise typer.Exit(1)


def _human(result: TypesResult) -> None:
    shown = _shown(result.path)
    rows = ", ".join(r.name for r in result.rows) or "no tables"
    summary = f"Env ({len(result.env)} members), {rows}"
    if result.status == "written":
        output.success(f"wrote {shown}: {summary}")
    elif result.status == "unchanged":
        output.info(f"{shown} is up to date: {summary}")
    elif result.status == "current":
        output.info(f"{shown} is current")
    elif result.status == "missing":
        output.error(f"{shown} does not exist", hint="run `worktime types` to write it")
    else:
        output.error(
            f"{shown} is out of date with the config or the migrations",
            hint="run `worktime types` and commit the result",
        )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
