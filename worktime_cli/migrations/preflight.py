"""What a run over a target would do, decided before anything changes.

The files are read once and the target asked for its tracking rows; the pure plans
(`plan.plan_apply`, `rollback_plan.plan_rollback`) then refuse what they must. An apply plan
also passes two gates: the pending migrations are linted and replayed in memory (`verify`),
on the applied history. `engine` runs the plan; a rehearsal checks it on a copy.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

from worktime_cli.errors import WorktimeError
from worktime_cli.migrations import files
from worktime_cli.migrations.plan import AppliedRow, RunPlan, plan_apply
from worktime_cli.migrations.rollback_plan import plan_rollback

if TYPE_CHECKING:
    from worktime_cli.targets.migrations import MigrationsTarget


def sources(target: MigrationsTarget, *, missing_ok: bool = True) -> list[files.Source]:
    return files.read_all(files.discover(target.layout, missing_ok=missing_ok))


def plan_apply_for(
    target: MigrationsTarget,
    *,
    to: str | None = None,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    allow_empty: bool = False,
    verify: bool = True,
    allow_broken_down: bool = False,
    lint: bool = True,
    allow: Collection[str] = (),
) -> RunPlan:
    """What `apply` would run on `target`; raises before anything if it must refuse.

    With `verify` (the default), the pending migrations are replayed in memory first (see
    `verify.py`): a down SQL that fails or does not restore the schema is refused unless
    `allow_broken_down` (then it is a warning).
    """
    found = sources(target, missing_ok=False)
    stray = files.stray_downs([s.name for s in found])
    if stray:
        raise files.stray_downs_error(target.layout, stray)
    applied = target.applied()
    the_plan = plan_apply(
        found,
        applied,
        folder=target.folder,
        to=to,
        allow_drift=allow_drift,
        allow_out_of_order=allow_out_of_order,
        allow_empty=allow_empty,
    )
    skipped = files.walk(target.layout).symlinks
    if skipped:
        note = (
            f"skipped symlink(s) {', '.join(skipped)}: wrangler never applies a symlinked "
            "migration, so neither does worktime"
        )
        the_plan = replace(the_plan, warnings=(*the_plan.warnings, note))
    if not the_plan.steps:
        return the_plan
    warnings: list[str] = []
    if lint:
        warnings += lint_pending(found, applied, the_plan, allow=allow)
    if verify:
        warnings += verify_pending(
            target, found, applied, the_plan, allow_broken_down=allow_broken_down
        )
    return replace(the_plan, warnings=the_plan.warnings + tuple(warnings))


def lint_pending(
    found: list[files.Source],
    applied: list[AppliedRow],
    the_plan: RunPlan,
    *,
    allow: Collection[str] = (),
) -> list[str]:
    """Lint what `the_plan` applies (on the applied history); error-level findings not in
    `allow` refuse the run before anything changes, the rest become warnings."""
    from worktime_cli.migrations import lint, lint_codes

    lint.check_allowed(allow)
    by_name = {s.name: s for s in found}
    ground = [by_name[r.name] for r in applied if r.name in by_name]
    planned = [by_name[s.name] for s in the_plan.steps]
    findings = lint.lint(ground + planned, check={s.name for s in planned})
    blocking = [f for f in findings if f.severity == lint_codes.ERROR and f.code not in allow]
    if blocking:
        shown = "\n".join(f"  {f.text()}\n    fix: {f.fix}" for f in blocking)
        codes = sorted({f.code for f in blocking})
        raise lint_codes.LintError(
            f"{len(blocking)} error-level lint finding(s) in what apply would run; nothing "
            f"applied:\n{shown}",
            hint="fix them, or pass "
            + " ".join(f"--allow {c}" for c in codes)
            + " to apply anyway",
        )
    # Rules already warned by the plan (foreign_keys = OFF) are not said twice.
    return [
        f"{f.text()} (fix: {f.fix})" for f in findings if f not in blocking and f.code != "fk-off"
    ]


class BrokenDownError(WorktimeError):
    """A pending migration's down SQL fails or does not restore the schema (verify)."""


def verify_pending(
    target: MigrationsTarget,
    found: list[files.Source],
    applied: list[AppliedRow],
    the_plan: RunPlan,
    *,
    allow_broken_down: bool = False,
) -> list[str]:
    """Replay the applied files (in the order applied), then check each planned one."""
    from worktime_cli.migrations import verify

    by_name = {s.name: s for s in found}
    ground = [by_name[r.name] for r in applied if r.name in by_name]
    planned = [by_name[s.name] for s in the_plan.steps]
    checked = verify.replay(
        ground + planned,
        check={s.name for s in planned},
        migrations_table=target.binding.migrations_table,
    )
    if checked and checked[0].name not in {s.name for s in planned}:
        # Only a failing ground migration is reported (`replay` stops there): the applied
        # history does not replay, so the pending ones cannot be checked on it.
        first = checked[0]
        return [
            f"not verified: the applied {first.name} does not replay on an empty database "
            f"({first.error})"
        ]
    warnings: list[str] = []
    broken = [m for m in checked if m.broken_down]
    # A pending up that fails here is not reported: the real run fails on it with the same
    # file:line (the scratch holds the same schema), and says what went through before it.
    if broken and not allow_broken_down:
        first = broken[0]
        details = "\n".join(first.diff[:10])
        raise BrokenDownError(
            f"the down SQL of {', '.join(m.name for m in broken)} does not undo the migration "
            f"({first.error}){chr(10) + details if details else ''}; nothing applied",
            hint="fix the down file (`worktime d1 migrations verify` shows every problem), "
            "or pass --allow-broken-down",
        )
    for m in broken:
        warnings.append(f"the down SQL of {m.name} is broken: {m.error} (--allow-broken-down)")
    return warnings


def plan_rollback_for(
    target: MigrationsTarget,
    *,
    steps: int | None = None,
    to: str | None = None,
    all: bool = False,  # mirrors --all; shadows the builtin, unused here
) -> RunPlan:
    """What `rollback` would run on `target`, newest first; raises if it must refuse."""
    found = sources(target)
    applied = target.applied()

    def live_schema_mismatch() -> str | None:
        # A migration wrangler applied has no checksum: its file may have changed since.
        # Trust the inverse derived from the files only if the live schema is exactly what
        # the applied files build, in the order they were applied.
        from worktime_cli.migrations.verify import live_mismatch

        by_name = {s.name: s for s in found}
        gone = [row.name for row in applied if row.name not in by_name]
        if gone:
            return f"the file of {', '.join(gone)} is gone"
        return live_mismatch(
            target.schema(),
            [by_name[row.name] for row in applied],
            target.binding.migrations_table,
        )

    return plan_rollback(
        found,
        applied,
        database=target.binding.database_name,
        folder=target.folder,
        down_folder=target.layout.downs,
        steps=steps,
        to=to,
        all=all,
        live_schema_mismatch=live_schema_mismatch,
        migrations_table=target.binding.migrations_table,
        remote=bool(target.location().get("remote")),
    )
