"""D1 migrations: one engine over a local or remote target. No CLI code.

Files and the tracking table are wrangler 4's, so both tools can work on one checkout.

- `files`: discovery in wrangler's order (`migrations_pattern`, the `Layout` of up and down
  files), checksums, `create`.
- `pattern`: wrangler's glob (minimatch 5), path normalisation and apply order, ported.
- `plan`: pure functions: status merge, the apply plan (every refusal).
- `downs`: a migration's down SQL (down file, captured copy, derived inverse; `derive`, `seal`).
- `rollback_plan`: pure: what a rollback runs, and every refusal.
- `preflight`: a target's plans before anything changes, behind apply's lint and verify gates.
- `engine`: the one run loop over a `MigrationsTarget` (`worktime_cli.targets.migrations`).
- `reports`: read-only answers: status, one migration's down SQL, verify and lint of every file.
- `local`: the local target (`LocalMigrations`, `ScratchMigrations`); the remote one is
  `worktime_cli.remote.migrations.RemoteMigrations`.
- `verify`: every migration replayed up/down/up in a `scratch` database whose schema
  `schema_tracker` follows; `schema`: schema rows and their comparison.
- `lint`: the runner over `lint_statements` and `lint_schema` rules, codes in `lint_codes`.
- `alter`: `create --alter`, the table rebuild whose SQL `rebuild` writes.
- `reset`, `rehearsal`: a local database rebuilt; pending migrations rehearsed on a copy.

(The package-level `plan_apply` is not called `plan`: that name is the submodule.)
The functions taking `(cfg, db, persist_to)` below are the local target's shortcuts, for
callers that only ever work locally (`init`, `dev`, `doctor`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from worktime_cli.migrations.engine import (
    MarkResult,
    MigrationError,
    MigrationEvent,
    Outcome,
    RunResult,
)
from worktime_cli.migrations.files import (
    DOWN_DIR,
    FACTS_SUFFIX,
    CreatedMigration,
    Layout,
    MigrationFile,
    Source,
    checksum,
    create,
    discover,
    down_path,
    layout,
    migration_number,
    migrations_dir,
    read_sql,
    slug,
    sort_key,
)
from worktime_cli.migrations.local import (
    LocalMigrations,
    facts_ddl,
    facts_table,
    tracking_ddl,
)
from worktime_cli.migrations.plan import (
    APPLIED,
    DRIFTED,
    FAILED,
    MISSING,
    PENDING,
    ROLLED_BACK,
    SKIPPED,
    UNVERIFIED,
    AppliedRow,
    DriftError,
    MigrationState,
    RunPlan,
    Status,
    Step,
)
from worktime_cli.migrations.schema import SchemaRow, expected_schema, schema_of
from worktime_cli.project.config import Config, D1Binding

# One result type for both operations; the old names stay for callers.
ApplyResult = RunResult
RollbackResult = RunResult

__all__ = [
    "APPLIED",
    "DOWN_DIR",
    "DRIFTED",
    "FACTS_SUFFIX",
    "FAILED",
    "MISSING",
    "PENDING",
    "ROLLED_BACK",
    "SKIPPED",
    "UNVERIFIED",
    "AppliedRow",
    "ApplyResult",
    "CreatedMigration",
    "DriftError",
    "Layout",
    "LocalMigrations",
    "MarkResult",
    "MigrationError",
    "MigrationEvent",
    "MigrationFile",
    "MigrationState",
    "Outcome",
    "RollbackResult",
    "RunPlan",
    "RunResult",
    "SchemaRow",
    "Source",
    "Status",
    "Step",
    "apply",
    "checksum",
    "create",
    "discover",
    "down_path",
    "expected_schema",
    "facts_ddl",
    "facts_table",
    "layout",
    "mark_applied",
    "migration_number",
    "migrations_dir",
    "plan_apply",
    "read_sql",
    "rollback",
    "schema_of",
    "slug",
    "sort_key",
    "status",
    "tracking_ddl",
]


def status(cfg: Config, db: D1Binding, persist_to: Path | None) -> Status:
    """Each migration's state in the local database, read-only (never creates the file or
    a table). `doctor` and `dev` use it: `Status.drifted` lists applied migrations whose
    file changed since (checksum drift), `pending` and `missing` the others."""
    from worktime_cli.migrations import reports

    return reports.status(LocalMigrations(cfg, persist_to, db))


def plan_apply(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    to: str | None = None,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    allow_empty: bool = False,
) -> RunPlan:
    """What `apply` would run on the local database; raises before anything if it must refuse."""
    from worktime_cli.migrations import preflight

    return preflight.plan_apply_for(
        LocalMigrations(cfg, persist_to, db),
        to=to,
        allow_drift=allow_drift,
        allow_out_of_order=allow_out_of_order,
        allow_empty=allow_empty,
    )


def apply(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    to: str | None = None,
    dry_run: bool = False,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    allow_empty: bool = False,
    allow_broken_down: bool = False,
    allow: Collection[str] = (),
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> RunResult:
    """Apply pending migrations to the local database (see `engine.apply`)."""
    from worktime_cli.migrations import engine

    return engine.apply(
        LocalMigrations(cfg, persist_to, db),
        to=to,
        dry_run=dry_run,
        allow_drift=allow_drift,
        allow_out_of_order=allow_out_of_order,
        allow_empty=allow_empty,
        allow_broken_down=allow_broken_down,
        allow=allow,
        on_event=on_event,
    )


def rollback(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    steps: int | None = None,
    to: str | None = None,
    all: bool = False,  # mirrors --all; shadows the builtin, unused here
    dry_run: bool = False,
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> RunResult:
    """Roll back migrations of the local database (see `engine.rollback`)."""
    from worktime_cli.migrations import engine

    return engine.rollback(
        LocalMigrations(cfg, persist_to, db),
        steps=steps,
        to=to,
        all=all,
        dry_run=dry_run,
        on_event=on_event,
    )


def mark_applied(cfg: Config, db: D1Binding, persist_to: Path | None, name: str) -> MarkResult:
    """Record `name` as applied to the local database without running it."""
    from worktime_cli.migrations import engine

    return engine.mark_applied(LocalMigrations(cfg, persist_to, db), name)
