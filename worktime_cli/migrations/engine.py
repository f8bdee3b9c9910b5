"""The one migrations run loop, over any `MigrationsTarget` (local SQLite or D1 on Cloudflare).

Read the files once, ask the target for its tracking rows, plan (`preflight`), then:
snapshot/bookmark, run each step atomically, report. A failing step leaves no trace; the
steps before it in this run stay done (as wrangler) and `MigrationError.result` says which.
A run that changed nothing keeps no snapshot, so no message suggests a restore that would
restore nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import NotFoundError, SQLError, UsageError, WorktimeError
from worktime_cli.migrations import files
from worktime_cli.migrations.plan import (
    APPLIED,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SKIPPED,
    RunPlan,
    apply_step,
    resolve,
)
from worktime_cli.migrations.preflight import plan_apply_for, plan_rollback_for

if TYPE_CHECKING:
    from worktime_cli.d1.snapshots import Snapshot
    from worktime_cli.targets.migrations import MigrationsTarget


@dataclass(frozen=True)
class MigrationEvent:
    """Progress: `kind` is start | done | failed; `index` counts from 1 to `total`.

    `restore-point` comes first, before anything changes: `name` is the snapshot (local) or
    Time Travel bookmark (remote), `undo` the exact command back to it.
    """

    name: str
    kind: str
    index: int
    total: int
    undo: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One migration in an apply/rollback run.

    status: applied | rolled back | failed | pending (not reached) | skipped (another
    process did it first). source: for rollback, "file" or "captured" (the down SQL
    recorded at apply time).
    """

    name: str
    status: str
    duration_ms: float | None = None
    sql: str | None = None  # filled for --dry-run
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
        }
        if self.source is not None:
            data["source"] = self.source
        if self.sql is not None:
            data["sql"] = self.sql
        return data


@dataclass(frozen=True)
class RunResult:
    """The result of `apply` or `rollback` (operation), locally and remotely alike."""

    operation: str  # apply | rollback
    database: str
    dry_run: bool
    migrations: tuple[Outcome, ...]  # rollback: newest first, the order they run in
    warnings: tuple[str, ...] = ()
    snapshot: Snapshot | None = None
    duration_ms: float = 0.0
    error: str | None = None

    @property
    def applied(self) -> list[str]:
        return [m.name for m in self.migrations if m.status == APPLIED]

    @property
    def rolled_back(self) -> list[str]:
        return [m.name for m in self.migrations if m.status == ROLLED_BACK]

    @property
    def done(self) -> list[str]:
        return self.applied if self.operation == "apply" else self.rolled_back

    def to_json(self) -> dict[str, Any]:
        count_key = "applied" if self.operation == "apply" else "rolled_back"
        return {
            "database": self.database,
            "dry_run": self.dry_run,
            "migrations": [m.to_json() for m in self.migrations],
            count_key: len(self.done),
            "warnings": list(self.warnings),
            "snapshot": None if self.snapshot is None else str(self.snapshot.path),
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


class MigrationError(SQLError):
    """A migration (or its rollback) failed; `result` says what was done before it."""

    def __init__(self, message: str, hint: str | None, result: RunResult) -> None:
        super().__init__(message, hint)
        self.result = result


@dataclass(frozen=True)
class MarkResult:
    """`mark-applied`: the migration recorded without running its SQL."""

    database: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "name": self.name, "status": APPLIED}


def apply(
    target: MigrationsTarget,
    *,
    to: str | None = None,
    dry_run: bool = False,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    allow_empty: bool = False,
    allow_broken_down: bool = False,
    allow: Collection[str] = (),
    verify: bool = True,
    lint: bool = True,
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> RunResult:
    """Apply pending migrations in order, each with its tracking rows atomically."""
    started = time.perf_counter()
    the_plan = plan_apply_for(
        target,
        to=to,
        allow_drift=allow_drift,
        allow_out_of_order=allow_out_of_order,
        allow_empty=allow_empty,
        allow_broken_down=allow_broken_down,
        allow=allow,
        verify=verify,
        lint=lint,
    )
    return run(target, the_plan, dry_run=dry_run, on_event=on_event, started=started)


def rollback(
    target: MigrationsTarget,
    *,
    steps: int | None = None,
    to: str | None = None,
    all: bool = False,  # mirrors --all; shadows the builtin, unused here
    dry_run: bool = False,
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> RunResult:
    """Roll back the newest applied migrations: `steps` (default 1), all after `to`, or `all`.

    Each runs its down SQL (the down file, else the copy captured at apply time) and
    deletes its tracking rows atomically. Irreversible migrations are refused by name
    before anything changes.
    """
    started = time.perf_counter()
    the_plan = plan_rollback_for(target, steps=steps, to=to, all=all)
    return run(target, the_plan, dry_run=dry_run, on_event=on_event, started=started)


def run(
    target: MigrationsTarget,
    the_plan: RunPlan,
    *,
    dry_run: bool = False,
    on_event: Callable[[MigrationEvent], None] | None = None,
    started: float | None = None,
    group: bool = False,
) -> RunResult:
    """The one run loop: every step of `the_plan` through `target.run`, in order.

    With `group`, all steps go through `target.run_group` as one atomic unit instead: a
    failure leaves none of them done (per step, the ones before a failure stay done).
    """
    started = time.perf_counter() if started is None else started
    operation = the_plan.operation
    database = target.binding.database_name
    idle = APPLIED if operation == "rollback" else PENDING  # a step not (yet) run
    if dry_run or not the_plan.steps:
        return RunResult(
            operation,
            database,
            dry_run,
            tuple(
                Outcome(s.name, idle, sql=s.sql if dry_run else None, source=s.source)
                for s in the_plan.steps
            ),
            the_plan.warnings,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    if group:
        return _run_group(target, the_plan, on_event=on_event, started=started)
    snapshot = target.before_run(operation)
    _announce(snapshot, len(the_plan.steps), on_event)
    outcomes = {s.name: Outcome(s.name, idle, source=s.source) for s in the_plan.steps}
    changed = False

    def result(error: str | None = None) -> RunResult:
        return RunResult(
            operation,
            database,
            False,
            tuple(outcomes.values()),
            the_plan.warnings,
            snapshot,
            (time.perf_counter() - started) * 1000,
            error,
        )

    total = len(the_plan.steps)
    done_status = APPLIED if operation == "apply" else ROLLED_BACK
    try:
        with target.lock():
            for index, step in enumerate(the_plan.steps, start=1):
                if on_event:
                    on_event(MigrationEvent(step.name, "start", index, total))
                began = time.perf_counter()
                try:
                    ran = target.run(step)
                except WorktimeError as exc:
                    outcomes[step.name] = Outcome(
                        step.name, FAILED, (time.perf_counter() - began) * 1000, source=step.source
                    )
                    if on_event:
                        on_event(MigrationEvent(step.name, "failed", index, total))
                    if not changed:
                        target.discard(snapshot)
                        snapshot = None
                    verb = "migration" if operation == "apply" else "rollback of"
                    raise MigrationError(
                        f"{verb} {step.name} failed: {exc.message}", exc.hint, result(exc.message)
                    ) from None
                status = done_status if ran else SKIPPED
                changed = changed or ran
                outcomes[step.name] = Outcome(
                    step.name, status, (time.perf_counter() - began) * 1000, source=step.source
                )
                if on_event and ran:
                    on_event(MigrationEvent(step.name, "done", index, total))
    except BaseException:
        if not changed and snapshot is not None:
            target.discard(snapshot)
        raise
    if not changed:
        target.discard(snapshot)
        snapshot = None
    return result()


def _announce(
    snapshot: Snapshot | None,
    total: int,
    on_event: Callable[[MigrationEvent], None] | None,
) -> None:
    """Say how to go back before the first change, for a remote run's Time Travel bookmark.

    A local snapshot is only announced after the run: it is discarded when nothing changed,
    and a restore that restores nothing must not be suggested.
    """
    undo = getattr(snapshot, "command", "")
    if snapshot is None or on_event is None or not undo:
        return
    on_event(MigrationEvent(snapshot.name, "restore-point", 0, total, undo))


def _run_group(
    target: MigrationsTarget,
    the_plan: RunPlan,
    *,
    on_event: Callable[[MigrationEvent], None] | None,
    started: float,
) -> RunResult:
    operation = the_plan.operation
    database = target.binding.database_name
    idle = APPLIED if operation == "rollback" else PENDING
    done_status = APPLIED if operation == "apply" else ROLLED_BACK
    total = len(the_plan.steps)
    snapshot = target.before_run(operation)
    _announce(snapshot, len(the_plan.steps), on_event)

    def result(status: str, error: str | None = None, ms: float | None = None) -> RunResult:
        return RunResult(
            operation,
            database,
            False,
            tuple(Outcome(s.name, status, ms, source=s.source) for s in the_plan.steps),
            the_plan.warnings,
            snapshot,
            (time.perf_counter() - started) * 1000,
            error,
        )

    if on_event:
        on_event(MigrationEvent(f"{total} migration(s) as one group", "start", 1, 1))
    began = time.perf_counter()
    try:
        with target.lock():
            target.run_group(the_plan.steps)
    except WorktimeError as exc:
        target.discard(snapshot)
        snapshot = None
        if isinstance(exc, UsageError):
            raise
        raise MigrationError(
            f"{'apply' if operation == 'apply' else 'rollback'} of the group failed; none of "
            f"its {total} migration(s) changed: {exc.message}",
            exc.hint,
            result(idle, exc.message),
        ) from None
    except BaseException:
        target.discard(snapshot)
        raise
    return result(done_status, ms=(time.perf_counter() - began) * 1000 / total)


def mark_applied(target: MigrationsTarget, name: str) -> MarkResult:
    """Record `name` as applied without running it (baseline an existing database)."""
    found = files.discover(target.layout)
    chosen = resolve(name, (f.name for f in found))
    if chosen is None:
        raise NotFoundError(f"no migration {name!r} in {target.folder}")
    source = files.read(next(f for f in found if f.name == chosen))
    step = apply_step(source)
    record = replace(step, sql="", statements=())
    with target.lock():
        if not target.run(record):
            raise WorktimeError(
                f"migration {chosen} is already applied to {target.binding.database_name}"
            )
    return MarkResult(target.binding.database_name, chosen)
