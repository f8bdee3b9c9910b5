"""Pure planning: merge files with tracking rows into a status, plan an apply, plan a rollback.

Nothing here touches a disk or a database: the inputs are the files read once
(`files.Source`) and the target's tracking rows (`AppliedRow`), so the local and the remote
target refuse the same mistakes with the same words and exit codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worktime_cli.errors import NotFoundError, UsageError, WorktimeError
from worktime_cli.migrations.derive import Derived, derive, is_derived
from worktime_cli.migrations.files import DOWN_DIR, MigrationFile, Source, down_seal, sort_key
from worktime_cli.migrations.seal import UNSEALED, captured_doubt, doubt_error
from worktime_cli.sqlite.script import Statement, split

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


@dataclass(frozen=True)
class Down:
    """The down SQL a rollback of `name` would run, and where it comes from.

    source: "file" (the down file), "captured" (its copy recorded at apply time) or
    "derived" (the inverse worktime derives from the up file, see `derive.py`).
    unverified: derived from the file of a migration applied without worktime's checksum
    (by wrangler); a rollback first checks the live schema matches what the files build.
    doubt: why a captured copy cannot be tied to its migration (`seal.UNSEALED` or
    `seal.TAMPERED`), None when it can: a rollback refuses a doubtful copy.
    """

    name: str
    sql: str
    statements: tuple[Statement, ...]
    source: str
    label: str  # what errors name: the down file, or "<name> (down SQL captured at apply time)"
    unverified: bool = False
    doubt: str | None = None
    origin: str = ""  # where it comes from, as the rollback's confirmation says it


def derived(source: Source) -> Derived:
    """The derived down SQL of one up file, or why it has none (cached)."""
    return derive(str(source.file.path), source.name, source.statements)


def down_for(source: Source | None, row: AppliedRow | None) -> Down | None:
    """The down SQL of one migration, first found of:

    1. the down file, when it holds a statement (`migrations create` writes one of comments
       only: that is "not written yet", not "nothing to undo");
    2. the copy captured at apply time (a down file's, or the derived SQL);
    3. the inverse derived from the up file, for a pending migration, one whose file is
       unchanged since it was applied (same checksum), or one wrangler applied (no
       checksum: `unverified`, the rollback checks the live schema first).

    None when there is none (or it holds no statement).
    """
    if source is not None and source.has_down_sql:
        return Down(
            source.name,
            source.down_sql or "",
            source.down_statements,
            "file",
            str(source.file.down_path),
            origin=f"down SQL from {source.file.down_path}",
        )
    if row is not None and row.down_sql is not None:
        statements = tuple(split(row.down_sql))
        if statements:
            kind = "derived" if is_derived(row.down_sql) else "captured"
            return Down(
                row.name,
                row.down_sql,
                statements,
                kind,
                f"{row.name} (down SQL captured at apply time)",
                doubt=captured_doubt(source, row),
                # A doubtful copy is refused before it is shown, so this says "verified".
                origin="down SQL captured at apply time (verified)",
            )
    if source is None:
        return None
    if row is not None and row.checksum is not None and row.checksum != source.checksum:
        return None  # the file changed since: its inverse is not the applied one's
    found = derived(source)
    if found.sql is None:
        return None
    return Down(
        source.name,
        found.sql,
        tuple(split(found.sql)),
        "derived",
        f"{source.name} (down SQL derived from {source.file.path})",
        unverified=row is not None and row.checksum is None,
        origin=f"down SQL derived from {source.file.path}",
    )


REFUSED = "refused"


def down_source(source: Source | None, row: AppliedRow | None) -> str:
    """What `list` shows: file | captured | derived | refused | none. `refused`: the copy
    captured at apply time cannot be tied to its migration (`seal.captured_doubt`), so a
    rollback refuses it, and `list` must not promise one."""
    down = down_for(source, row)
    if down is None:
        return "none"
    return REFUSED if down.doubt is not None else down.source


def _has_down(down: str) -> bool:
    return down not in ("none", REFUSED)


def why_irreversible(source: Source | None, row: AppliedRow | None) -> str:
    """Why `down_for` found nothing, naming the statement (`file:line`) when it can."""
    if source is None:
        return "its file is gone and no down SQL was captured at apply time"
    if row is not None and row.checksum is not None and row.checksum != source.checksum:
        return "its file changed since it was applied, so its inverse cannot be derived"
    return derived(source).blocker or "no statement to undo"


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
                MigrationState(source.name, PENDING, source.file, None, late, _has_down(down), down)
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
                source.name, state, source.file, row.applied_at, False, _has_down(down), down
            )
        )
    known = {s.name for s in sources}
    for row in applied:
        if row.name not in known:
            down = down_source(None, row)
            states.append(
                MigrationState(
                    row.name, MISSING, None, row.applied_at, False, _has_down(down), down
                )
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


def captured_down(source: Source) -> str | None:
    """The down SQL recorded at apply time: the down file's text when it holds a statement,
    else the derived inverse, else the down file's text as it is (None without one)."""
    if source.has_down_sql:
        return source.down_sql
    found = derived(source)
    return found.sql if found.sql is not None else source.down_sql


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
