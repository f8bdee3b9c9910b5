"""`worktime d1 reset`: rebuild a local database from its migrations (local only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    LocalTarget,
    Target,
    YesOption,
    env_flag,
)

if TYPE_CHECKING:
    from worktime_cli.migrations.reset import ResetResult


def reset(
    database: DatabaseArg,
    seed: Annotated[
        Path | None,
        typer.Option("--seed", metavar="FILE", help="SQL file to run after the migrations."),
    ] = None,
    remote: Annotated[
        bool,
        typer.Option("--remote", help="Refused: a reset never touches a remote database."),
    ] = False,
    yes: YesOption = False,
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Rebuild a LOCAL database: snapshot it, recreate it empty, apply every migration, seed it.

    Local only: --remote is refused outright. The old content stays in a snapshot
    (`worktime d1 restore DATABASE` brings it back).

    Example:

        worktime d1 reset worktime-db --yes
        worktime d1 reset worktime-db --seed seed.sql
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.errors import UsageError
    from worktime_cli.migrations.reset import reset as do_reset

    if remote:
        raise UsageError(
            "d1 reset is local only: it never deletes a remote database",
            hint="to undo remote migrations use `worktime d1 migrations rollback DATABASE --remote`",
        )
    with open_context(target) as ctx:
        db = ctx.config.d1(database)
        output.confirm(
            f"Delete every row and table of the local database {db.database_name} and rebuild "
            "it from its migrations (a snapshot is kept)?",
            yes=yes,
            action=f"reset {db.database_name}",
        )
        with output.progress(f"resetting {db.database_name}", unit="steps") as bar:
            result = do_reset(ctx.config, db, target.persist_to, seed=seed, on_progress=bar.update)
    output.render(result, json=json, human=lambda r: _show(r, ctx.config.env))


def _show(result: ResetResult, env: str | None) -> None:
    output.success(
        f"reset {result.database}: {len(result.applied)} migration(s) applied"
        + (
            f", seed {result.seed} run ({result.seed_statements} statement(s))"
            if result.seed
            else ""
        )
    )
    if result.snapshot is not None:
        output.info(
            f"the old content is in snapshot {result.snapshot.name} "
            f"(undo with `worktime d1 restore {result.database}{env_flag(env)}`)"
        )
