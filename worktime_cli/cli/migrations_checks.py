"""`worktime d1 migrations verify` and `lint`: check the migration files before they run, on a
scratch database (verify: up, down, up) or statement by statement (lint: D1's hazards)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption, ProjectTarget, Target

if TYPE_CHECKING:
    from worktime_cli.migrations.lint_codes import LintResult
    from worktime_cli.migrations.verify import VerifyResult
    from worktime_cli.project.config import Config

OptionalDatabaseArg = Annotated[
    str | None,
    typer.Argument(
        help="The database's database_name or binding (default: the only one configured).",
        show_default=False,
    ),
]


def _only_database(cfg: Config, database: str | None) -> str:
    from worktime_cli.errors import UsageError

    if database is not None:
        return database
    names = [db.database_name for db in cfg.d1_databases]
    if len(names) != 1:
        raise UsageError(
            "name the database: "
            + (f"{cfg.path.name} configures {', '.join(names)}" if names else "none is configured")
        )
    return names[0]


def verify(
    database: OptionalDatabaseArg = None,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Replay every migration in memory: up, down, up again; report each that does not hold.

    For each migration on a scratch database: its up must run on what the ones before it
    built; its down SQL (file, or derived) must restore the schema from before; up again
    must build the same schema. An up that fails is reported with each statement of it that
    fails, and the migrations after it are still checked. Exits 1 on any problem, with a
    schema diff. The real database is not read.

    Example:

        worktime d1 migrations verify
        worktime d1 migrations verify worktime-db --json
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import reports

    with open_context(target) as ctx:
        result = reports.verify_all(ctx.migrations(_only_database(ctx.config, database)))
    output.render(result, json=json, human=_show_verified)
    if not result.ok:
        raise typer.Exit(1)


def lint(
    database: OptionalDatabaseArg = None,
    target: ProjectTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Find D1's hazards in the migration files before apply: code, severity, file:line, fix.

    Errors: a statement that fails on the schema the migrations before it build (the check
    goes on past it), DROP TABLE of a parent with ON DELETE CASCADE children (their rows
    go, even in a rebuild: D1 cannot turn foreign keys off), PRAGMA foreign_keys = OFF,
    BEGIN/COMMIT, statements over 100,000 bytes, tables over 100 columns, trigger bodies
    D1's splitter cuts (CRLF, lowercase begin, CASE … END). Warnings: destructive
    statements, ADD COLUMN NOT NULL without DEFAULT, quote marks in comments. Exits 1 on
    any error.

    Example:

        worktime d1 migrations lint
        worktime d1 migrations lint worktime-db --json
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import reports

    with open_context(target) as ctx:
        result = reports.lint_all(ctx.migrations(_only_database(ctx.config, database)))
    output.render(result, json=json, human=_show_lint)
    if not result.ok:
        raise typer.Exit(1)


def _show_lint(result: LintResult) -> None:
    for f in result.findings:
        line = f"{f.where}: {f.code}: {f.message}"
        if f.severity == "error":
            output.error(line, hint=f"fix: {f.fix}")
        else:
            output.warn(f"{line} (fix: {f.fix})")
    errors = len(result.errors)
    summary = (
        f"{result.checked} migration(s) of {result.database}: {errors} error(s), "
        f"{len(result.findings) - errors} warning(s)"
    )
    if result.ok:
        output.success(summary)
    else:
        output.info(summary)


def _show_verified(result: VerifyResult) -> None:
    if not result.migrations:
        output.info(f"no migrations for {result.database}")
        return
    output.print_table(
        ["name", "up", "down", "down SQL from"],
        [[m.name, m.up, m.down, m.down_source] for m in result.migrations],
    )
    for m in result.problems:
        output.error(f"{m.name}: {m.error}")
        for line in m.diff:
            output.info(f"  {line}")
    if result.ok:
        output.success(f"verified {len(result.migrations)} migration(s) of {result.database}")
