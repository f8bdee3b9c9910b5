"""Pure planning: merge files with tracking rows into a status, plan an apply.

Nothing here touches a disk or a database: the inputs are the files read once
(`files.Source`) and the target's tracking rows (`AppliedRow`), so the local and the remote
target refuse the same mistakes with the same words and exit codes. Which down SQL a
migration has is `downs`; the rollback plan built on it is `rollback_plan`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worktime_cli.errors import NotFoundError, WorktimeError
from worktime_cli.migrations.downs import captured_down, down_source, has_down
from worktime_cli.migrations.files import MigrationFile, Source, down_seal, sort_key
from worktime_cli.sqlite.script import Statement

APPLIED = "applied"
PENDING = "pending"
DRIFTED = "drifted"
MISSING = "missing"
UNVERIFIED = "unverified"
FAILED = "failed"
ROLLED_BACK = "rolled back"
SKIPPED = "skipped"
STATES = (APPLIED, PENDING, DRIFTED, MISSING, UNVERIFIED)


class DriftError(WorktimeError):
    """Applied migration files changed since they were applied."""


@dataclass(frozen=True)
class AppliedRow:
    """One row of the tracking table, joined with our facts table (None where absent)."""

    id: int
    name: str
    applied_at: str | None
    checksum: str | None  # None: applied by wrangler (or another tool): unverified
    down_sql: str | None
    duration_ms: float | None = None
    down_checksum: str | None = None  # `files.down_seal`; None: written by an older worktime


# --- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationState:
    """One migration as `list` shows it, locally and remotely alike.

    state: applied | pending | drifted (applied, file changed since: checksum drift) |
    missing (applied, file gone) | unverified (applied by another tool, no checksum).
    out_of_order: pending, but sorts before the newest applied migration.
    has_down: a rollback would find down SQL with at least one statement, and run it.
    down: where that down SQL comes from: file | captured | derived | none, or refused (a
    captured copy a rollback refuses: changed outside worktime, or not tied to it).
    """

    name: str
    state: str
    file: MigrationFile | None = None
    applied_at: str | None = None
    out_of_order: bool = False
    has_down: bool = False
    down: str = "none"

    @property
    def checksum_ok(self) -> bool | None:
        """True/False for an applied file whose checksum was recorded; None otherwise."""
        return {APPLIED: True, DRIFTED: False}.get(self.state)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.state,
            "applied_at": self.applied_at,
            "out_of_order": self.out_of_order,
            "has_down": self.has_down,
            "down": self.down,
        }


@dataclass(frozen=True)
class Status:
    """Every migration of one database: files and tracking rows, merged in apply order.

    location: where the database is, as the target describes it (local: path and whether
    the file exists; remote: database_id), merged into the JSON.
    """

    database: str
    migrations: tuple[MigrationState, ...]
    location: Mapping[str, Any] = field(default_factory=dict)

    def named(self, state: str) -> list[MigrationState]:
        return [m for m in self.migrations if m.state == state]

    @property
    def pending(self) -> list[MigrationState]:
        return self.named(PENDING)

    @property
    def drifted(self) -> list[MigrationState]:
        return self.named(DRIFTED)

    @property
    def missing(self) -> list[MigrationState]:
        return self.named(MISSING)

    @property
    def counts(self) -> dict[str, int]:
        return {s: len(self.named(s)) for s in STATES}

    @property
    def path(self) -> Path | None:
        """The local database file (None for a remote database)."""
        value = self.location.get("path")
        return None if value is None else Path(value)

    @property
    def exists(self) -> bool:
        return bool(self.location.get("exists", True))

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            **self.location,
            "migrations": [m.to_json() for m in self.migrations],
            "counts": self.counts,
        }


def merge(sources: Sequence[Source], applied: Sequence[AppliedRow]) -> list[MigrationState]:
    """Files and tracking rows as one list of states, in wrangler's apply order."""
    by_name = {row.name: row for row in applied}
    newest_applied = max((sort_key(row.name) for row in applied), default=None)
    states: list[MigrationState] = []
    for source in sources:
        row = by_name.get(source.name)
        if row is None:
            late = newest_applied is not None and sort_key(source.name) < newest_applied
            down = down_source(source, None)
            states.append(
                MigrationState(source.name, PENDING, source.file, None, late, has_down(down), down)
            )
            continue
        if row.checksum is None:
            state = UNVERIFIED
        elif source.checksum != row.checksum:
            state = DRIFTED
        else:
            state = APPLIED
        down = down_source(source, row)
        states.append(
            MigrationState(
                source.name, state, source.file, row.applied_at, False, has_down(down), down
            )
        )
    known = {s.name for s in sources}
    for row in applied:
        if row.name not in known:
            down = down_source(None, row)
            states.append(
                MigrationState(row.name, MISSING, None, row.applied_at, False, has_down(down), down)
            )
    states.sort(key=lambda s: sort_key(s.name))
    return states


# --- steps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One migration to apply or roll back, with its tracking rows, as one atomic unit.

    kind: apply | rollback. label: what errors name (the file, or the captured copy).
    checksum, down_sql and down_checksum (apply): recorded in our facts table. source
    (rollback): where the down SQL comes from, "file", "captured" or "derived".
    """

    kind: str
    name: str
    sql: str
    statements: tuple[Statement, ...]
    label: str
    checksum: str | None = None
    down_sql: str | None = None
    source: str | None = None
    down_checksum: str | None = None
    origin: str | None = None  # rollback: `Down.origin`


@dataclass(frozen=True)
class RunPlan:
    """What a run would do, after every refusal passed."""

    operation: str  # apply | rollback
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()


_FK_OFF = re.compile(
    r"^\s*PRAGMA\s+(?:\"?main\"?\s*\.\s*)?\"?foreign_keys\"?\s*(?:=\s*|\(\s*)['\"]?(?:off|0|false|no)\b",
    re.I,
)


def statement_warnings(label: str, statements: Iterable[Statement]) -> list[str]:
    warnings = []
    for statement in statements:
        if _FK_OFF.match(_strip_leading_comments(statement.sql)):
            warnings.append(
                f"{label}:{statement.line}: PRAGMA foreign_keys = OFF has no effect here: a migration "
                "runs in one transaction, where SQLite ignores it (and D1 ignores it everywhere); "
                "ON DELETE CASCADE still fires. For a table rebuild use PRAGMA defer_foreign_keys = ON"
            )
    return warnings


def _strip_leading_comments(sql: str) -> str:
    while True:
        sql = sql.lstrip()
        if sql.startswith("--"):
            sql = sql.partition("\n")[2]
        elif sql.startswith("/*"):
            sql = sql.partition("*/")[2]
        else:
            return sql


def resolve(name: str, names: Iterable[str]) -> str | None:
    """The migration `name` means, typed with or without its `.sql`."""
    for candidate in names:
        if name in (candidate, candidate.removesuffix(".sql")):
            return candidate
    return None


def apply_step(source: Source) -> Step:
    down = captured_down(source)
    return Step(
        "apply",
        source.name,
        source.sql,
        source.statements,
        str(source.file.path),
        checksum=source.checksum,
        down_sql=down,
        down_checksum=None if down is None else down_seal(source.name, source.checksum, down),
    )


def plan_apply(
    sources: Sequence[Source],
    applied: Sequence[AppliedRow],
    *,
    folder: Path,
    to: str | None = None,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    allow_empty: bool = False,
) -> RunPlan:
    """The migrations `apply` runs, in order; raises before anything if it must refuse."""
    states = merge(sources, applied)
    warnings: list[str] = []
    drifted = [s.name for s in states if s.state == DRIFTED]
    if drifted:
        names = ", ".join(drifted)
        if not allow_drift:
            raise DriftError(
                f"applied migration(s) changed since they were applied: {names}",
                hint="restore the files (e.g. from git), or pass --allow-drift to apply the rest anyway",
            )
        warnings.append(f"applied migration(s) changed since they were applied: {names}")
    pending = [s for s in states if s.state == PENDING]
    if to is not None:
        target = resolve(to, (s.name for s in sources))
        if target is None:
            raise NotFoundError(f"no migration {to!r} in {folder}")
        limit = sort_key(target)
        pending = [m for m in pending if sort_key(m.name) <= limit]
    late = [m.name for m in pending if m.out_of_order]
    if late and not allow_out_of_order:
        raise WorktimeError(
            f"pending migration(s) sort before the newest applied one: {', '.join(late)}",
            hint="usually a branch merge; check they do not conflict, then pass --allow-out-of-order",
        )
    by_name = {s.name: s for s in sources}
    chosen = [by_name[m.name] for m in pending]
    empty = [s.name for s in chosen if not s.statements]
    if empty and not allow_empty:
        raise WorktimeError(
            f"migration(s) with no SQL statement: {', '.join(empty)}; nothing applied "
            "(write the SQL, or pass --allow-empty to record them as applied anyway)",
            hint="a file of comments only is empty; `migrations create` writes just a header",
        )
    for name in empty:
        warnings.append(f"{name} has no SQL statement: recorded as applied (--allow-empty)")
    for s in chosen:
        warnings.extend(statement_warnings(str(s.file.path), s.statements))
    return RunPlan("apply", tuple(apply_step(s) for s in chosen), tuple(warnings))
