"""Pure rollback planning: the newest applied migrations to roll back, each with its down
SQL (`downs`), and every refusal (no down SQL, a doubtful captured copy, a live schema the
applied files do not build) before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from worktime_cli.errors import NotFoundError, UsageError, WorktimeError
from worktime_cli.migrations.downs import Down, down_for, why_irreversible
from worktime_cli.migrations.files import DOWN_DIR, Source
from worktime_cli.migrations.plan import AppliedRow, RunPlan, Step, resolve, statement_warnings
from worktime_cli.migrations.seal import UNSEALED, doubt_error


def check_rollback_options(steps: int | None, to: str | None, all: bool) -> None:
    """One of --steps, --to, --all: a usage error (exit 2) otherwise, local and remote."""
    if sum(x is not None and x is not False for x in (steps, to, all)) > 1:
        raise UsageError("give only one of --steps, --to and --all")
    if steps is not None and steps < 1:
        raise UsageError("--steps must be at least 1")


def plan_rollback(
    sources: Sequence[Source],
    applied: Sequence[AppliedRow],
    *,
    database: str,
    folder: Path,
    down_folder: Path | None = None,
    steps: int | None = None,
    to: str | None = None,
    all: bool = False,  # mirrors --all; shadows the builtin, unused here
    live_schema_mismatch: Callable[[], str | None] | None = None,
    migrations_table: str = "d1_migrations",
    remote: bool = False,
) -> RunPlan:
    """The newest applied migrations to roll back, newest first: `steps` (default 1), every
    one applied after `to`, or `all`. Irreversible ones are refused by name, before anything.

    `live_schema_mismatch` is asked (once, only when needed) before a down SQL derived for a
    migration wrangler applied is trusted: None when the live schema equals what the applied
    files build, else how it differs. A captured copy that cannot be tied to its migration
    (`captured_doubt`) is refused before anything; `migrations_table` and `remote` only shape
    what that refusal says.
    """
    check_rollback_options(steps, to, all)
    downs_at = down_folder if down_folder is not None else folder / DOWN_DIR
    rows = list(applied)
    if all:
        targets = rows
    elif to is not None:
        target = resolve(to, (r.name for r in rows))
        if target is None:
            raise NotFoundError(f"migration {to!r} is not applied to {database}")
        index = next(i for i, r in enumerate(rows) if r.name == target)
        targets = rows[index + 1 :]
    else:
        targets = rows[max(0, len(rows) - (steps or 1)) :]
    targets.reverse()
    by_name = {s.name: s for s in sources}
    downs: list[Down] = []
    irreversible: list[tuple[str, str]] = []
    for row in targets:
        source = by_name.get(row.name)
        down = down_for(source, row)
        if down is None:
            irreversible.append((row.name, why_irreversible(source, row)))
        else:
            downs.append(down)
    if irreversible:
        names = ", ".join(name for name, _ in irreversible)
        verb = "has" if len(irreversible) == 1 else "have"
        reasons = "; ".join(f"{name}: {why}" for name, why in irreversible)
        raise WorktimeError(
            f"cannot roll back: {names} {verb} no down SQL (no statement in "
            f"{downs_at}, none captured at apply time, none derivable: {reasons}); "
            "nothing changed",
            hint="write the SQL that undoes it in "
            f"{downs_at.joinpath(*irreversible[0][0].split('/'))}, then retry",
        )
    doubtful = [d for d in downs if d.doubt is not None]
    if doubtful:
        raise doubt_error(
            [(d.name, d.doubt or UNSEALED) for d in doubtful],
            database=database,
            folder=downs_at,
            migrations_table=migrations_table,
            remote=remote,
        )
    unverified = [d.name for d in downs if d.unverified]
    if unverified and live_schema_mismatch is not None:
        mismatch = live_schema_mismatch()
        if mismatch is not None:
            raise WorktimeError(
                f"cannot roll back {', '.join(unverified)}: applied without worktime (no "
                "checksum), so its down SQL is derived from the file only when the live schema "
                f"is what the applied files build, and it is not ({mismatch}); nothing changed",
                hint=f"write the down file(s) in {downs_at} by hand, then retry",
            )
    warnings = [w for d in downs for w in statement_warnings(d.label, d.statements)]
    return RunPlan(
        "rollback",
        tuple(
            Step("rollback", d.name, d.sql, d.statements, d.label, source=d.source, origin=d.origin)
            for d in downs
        ),
        tuple(warnings),
    )
