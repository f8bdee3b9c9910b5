"""`worktime run -- CMD …`: any command with the project's resolved environment."""

from __future__ import annotations

from typing import Annotated

import typer

from worktime_cli.cli.options import ProjectTarget, Target


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(
        "run",
        # Everything after the command's name is the command's own: `worktime run npm test
        # --watch` must not read `--watch` as ours.
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )(run)


def run(
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="-- CMD [ARGS]...",
            help="The command to run and its arguments (put them after `--`).",
            show_default=False,
        ),
    ],
    target: ProjectTarget = Target(),
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY:VALUE",
            help="Set a var for this run, over wrangler.toml and .dev.vars (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a command with the project's resolved environment (vars, keyring secrets, .dev.vars).

    The command gets your environment plus every name worktime resolves, in this order of
    precedence: [vars] in wrangler.toml < the keyring (`worktime secret put`) < .dev.vars
    (or .env) < --var. Values go only into the command's process environment, never onto a
    command line or into a file. The exit code is the command's.

    Use it for test runners and scripts that read secrets from the environment. A plain
    `wrangler dev` never reads the keyring: it reads .dev.vars, else .env and (with
    [secrets] required) its process environment. So `worktime run -- wrangler dev` works only
    when there is no .dev.vars file; `worktime dev --worker` always hands wrangler the
    keyring values.

    Example:

        worktime run -- npm test
        worktime run --env staging -- node scripts/seed.mjs
    """
    from worktime_cli.cli import output
    from worktime_cli.cli.context import open_context
    from worktime_cli.dev import runner, worker_env
    from worktime_cli.secrets import environment

    cli_vars = environment.parse_cli_vars(var or [])
    with open_context(target) as ctx:
        resolved = environment.resolve(ctx.config, env=target.env, cli_vars=cli_vars)
    for warning in resolved.warnings:
        output.warn(warning)
    if resolved.missing:
        output.warn("required secrets resolve from nowhere: " + ", ".join(resolved.missing))
        if resolved.keyring_error is not None:
            # Only worth saying then: with .dev.vars supplying every secret it changes nothing.
            output.warn(f"keyring secrets are not in the environment: {resolved.keyring_error}")
    code = runner.run(command, worker_env.child_environment(resolved))
    raise typer.Exit(code)
