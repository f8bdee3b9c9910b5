"""The one migrations run loop, over any `MigrationsTarget` (local SQLite or D1 on Cloudflare).

Read the files once, ask the target for its tracking rows, plan (pure, `plan.py`), then:
snapshot/bookmark, run each step atomically, report. A failing step leaves no trace; the
steps before it in this run stay done (as wrangler) and `MigrationError.result` says which.
A run that changed nothing keeps no snapshot, so no message suggests a restore that would
restore nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import NotFoundError, SQLError, UsageError, WorktimeError
from worktime_cli.migrations import files
from worktime_cli.migrations.downs import down_for, why_irreversible
from worktime_cli.migrations.plan import (
    APPLIED,
    FAILED,
    PENDING,
    ROLLED_BACK,
    SKIPPED,
    AppliedRow,
    RunPlan,
    Status,
    apply_step,
    merge,
    plan_apply,
    resolve,
)
from worktime_cli.migrations.rollback_plan import plan_rollback
from worktime_cli.migrations.seal import TAMPERED

if TYPE_CHECKING:
    from worktime_cli.d1.snapshots import Snapshot
    from worktime_cli.migrations.lint_codes import LintResult
    from worktime_cli.migrations.verify import VerifyResult
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


def sources(target: MigrationsTarget, *, missing_ok: bool = True) -> list[files.Source]:
    return files.read_all(files.discover(target.layout, missing_ok=missing_ok))


def status(target: MigrationsTarget) -> Status:
    """Where each migration stands, including checksum drift (`drifted`). Reads only."""
    return Status(
        target.binding.database_name,
        tuple(merge(sources(target), target.applied())),
        target.location(),
    )


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


def verify_all(target: MigrationsTarget) -> VerifyResult:
    """`migrations verify`: replay every migration file in memory (the database is not read)."""
    from worktime_cli.migrations import verify

    return verify.VerifyResult(
        target.binding.database_name,
        tuple(
            verify.replay(
                sources(target, missing_ok=False),
                migrations_table=target.binding.migrations_table,
            )
        ),
    )


def lint_all(target: MigrationsTarget) -> LintResult:
    """`migrations lint`: every migration file, replayed in order (the database is not read)."""
    from worktime_cli.migrations import lint, lint_codes

    where = target.layout
    found, unreadable = lint.read_for_lint(files.discover(where))
    findings = lint.layout_findings(where) + unreadable + lint.lint(found)
    checked = len(found) + len({f.file for f in unreadable})
    return lint_codes.LintResult(target.binding.database_name, checked, tuple(findings))


@dataclass(frozen=True)
class DownSQL:
    """`migrations down`: the down SQL a rollback of `name` would run, and where it is from.

    written: the down file `--write` wrote (None without it).
    """

    database: str
    name: str
    source: str  # file | captured | derived
    sql: str
    written: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "name": self.name,
            "source": self.source,
            "sql": self.sql,
            "written": None if self.written is None else str(self.written),
        }


def down_sql(target: MigrationsTarget, name: str, *, write: bool = False) -> DownSQL:
    """The down SQL of migration `name` (file, captured or derived); `write` saves a derived
    or captured one as its down file, for review (never over a down file with statements)."""
    found = sources(target)
    rows = target.applied() if target.location().get("exists", True) else []
    chosen = resolve(name, [s.name for s in found] + [r.name for r in rows])
    if chosen is None:
        raise NotFoundError(f"no migration {name!r} in {target.folder}")
    source = next((s for s in found if s.name == chosen), None)
    row = next((r for r in rows if r.name == chosen), None)
    down = down_for(source, row)
    if down is None:
        raise WorktimeError(
            f"{chosen} has no down SQL: {why_irreversible(source, row)}",
            hint=f"write it in {target.layout.down_path(chosen)}",
        )
    written = None
    if write:
        if down.doubt == TAMPERED:
            # Writing it out would turn a copy known to be edited into a down file that runs.
            raise WorktimeError(
                f"the down SQL recorded for {chosen} does not match the checksum stored with it "
                "(changed outside worktime after it was applied); not written",
                hint=f"write the SQL that undoes it in {target.layout.down_path(chosen)}",
            )
        if down.source == "file":
            raise WorktimeError(
                f"{target.layout.down_path(chosen)} already holds the down SQL; not overwritten"
            )
        written = target.layout.down_path(chosen)
        files.write_down(written, down.sql)
    return DownSQL(target.binding.database_name, chosen, down.source, down.sql, written)


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
