"""Rehearse pending migrations on a throwaway copy of a database, and say what they would do.

`rehearse(cfg, db, source)` copies the SQLite file `source` (a pull of production, sanitized
or not; it is opened read-only and never changed) into a temporary folder, plans the pending
migrations exactly as `migrations apply` does (the same refusals: drift, out of order …),
then applies them one by one through the local migrations target, and reports per migration:

- its duration, and the rows of every user table before and after;
- `failed`: the migration fails (SQLite's message, file:line), as it would on D1;
- `foreign-key`: it leaves foreign-key violations (`PRAGMA foreign_key_check`, read inside
  a rolled-back re-run of the failed migration: which table references which parent);
- `cascade-delete`: a table lost rows though the migration neither deletes from it nor drops
  or replaces it: a child of a dropped or rebuilt parent (ON DELETE CASCADE fires on D1,
  where foreign keys cannot be turned off), or a trigger's doing;
- `d1-limit`: a D1 limit hit: a statement over 100,000 bytes, over 100 columns or bound
  parameters (the local connection enforces D1's limits), a row over 2 MB or the database
  over its size cap after the run (`worktime_cli.d1.limits`);
- `lint` / `verify`: the error-level lint findings and broken down SQL that `apply` would
  refuse (`preflight.lint_pending`, `preflight.verify_pending`; `allow`/`allow_broken_down` as
  for apply).

Warnings do not make a rehearsal unclean: lint warnings, and statements that rewrite a table
big enough to likely pass D1's 30-second query limit (with the batching advice). A failing
migration stops the rehearsal there (the ones after it are `not reached`), as apply stops.
`Rehearsal.clean` is True only when there is no finding at all: only then should a remote
apply go on.

The copy lives in a temporary folder removed at the end (`keep=True` keeps it and reports
its path). Pass `copy=False` when `source` is already a throwaway file (a pull into a
temporary file): it is then migrated in place, saving one copy of a big database.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli import d1
from worktime_cli.d1 import limits as d1limits
from worktime_cli.d1.sanitize import open_read_only
from worktime_cli.d1.schemadiff import connection_query, normalise_sql
from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.migrations import preflight
from worktime_cli.migrations.engine import MigrationEvent
from worktime_cli.migrations.files import FACTS_SUFFIX
from worktime_cli.migrations.lint_codes import LintError
from worktime_cli.migrations.local import ScratchMigrations
from worktime_cli.migrations.plan import RunPlan, Step
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.script import (
    INTERNAL_TABLE_PREFIXES,
    STATEMENT_LIMIT_HINT,
    quote_identifier,
)

FAILED = "failed"
FOREIGN_KEY = "foreign-key"
CASCADE = "cascade-delete"
LIMIT = "d1-limit"
LINT = "lint"
VERIFY = "verify"

APPLIED = "applied"
NOT_REACHED = "not reached"

_MAX_VIOLATIONS = 20  # violations listed per migration; the count is always whole
_LIMIT_HINTS = frozenset({*d1.LIMIT_HINTS.values(), STATEMENT_LIMIT_HINT})


@dataclass(frozen=True)
class Finding:
    """Something that should stop a remote apply: `kind` (see the module docstring)."""

    kind: str
    migration: str | None  # None: the whole run (size, rows, lint, verify)
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "migration": self.migration, "message": self.message}


@dataclass(frozen=True)
class TableRows:
    """A table's rows before and after one migration (None: the table did not exist)."""

    table: str
    before: int | None
    after: int | None

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RehearsedMigration:
    name: str
    status: str  # applied | failed | not reached
    duration_ms: float | None
    rows: tuple[TableRows, ...]
    findings: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
            "rows": [r.to_json() for r in self.rows],
            "findings": [f.to_json() for f in self.findings],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Rehearsal:
    """The rehearsal of `database`'s pending migrations on a copy of `source`."""

    database: str
    source: Path
    migrations: tuple[RehearsedMigration, ...]
    findings: tuple[Finding, ...]  # of the whole run (lint, verify, size, rows)
    warnings: tuple[str, ...]
    size: d1limits.SizeCheck | None = None
    largest_row: d1limits.LargestRow | None = None
    duration_ms: float = 0.0
    copy: Path | None = None  # the migrated copy, when kept

    @property
    def all_findings(self) -> list[Finding]:
        return [*self.findings, *(f for m in self.migrations for f in m.findings)]

    @property
    def clean(self) -> bool:
        return not self.all_findings

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "source": str(self.source),
            "clean": self.clean,
            "migrations": [m.to_json() for m in self.migrations],
            "findings": [f.to_json() for f in self.all_findings],
            "warnings": [*self.warnings, *(w for m in self.migrations for w in m.warnings)],
            "size": None if self.size is None else self.size.to_json(),
            "largest_row": None if self.largest_row is None else self.largest_row.to_json(),
            "duration_ms": round(self.duration_ms, 3),
            "copy": None if self.copy is None else str(self.copy),
        }


def rehearse(
    cfg: Config,
    db: D1Binding,
    source: Path,
    *,
    to: str | None = None,
    allow: Collection[str] = (),
    allow_broken_down: bool = False,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    size_cap: int = d1limits.PAID_DATABASE_CAP,
    check_rows: bool = True,
    copy: bool = True,
    keep: bool = False,
    on_event: Callable[[MigrationEvent], None] | None = None,
) -> Rehearsal:
    """Apply `db`'s pending migrations to a copy of `source` and report (module docstring).

    Raises what `migrations apply` raises before it changes anything (drift, a migration
    out of order, a file over D1's statement limit …); everything after that is reported.
    `check_rows` reads every row once at the end for D1's 2 MB row limit.
    """
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="worktime-rehearsal-"))
    try:
        scratch = folder / "rehearsal.sqlite"
        if copy:
            _copy(source, scratch)
        else:
            scratch = source
        target = ScratchMigrations(cfg, None, db, scratch)
        try:
            the_plan = preflight.plan_apply_for(
                target,
                to=to,
                allow_drift=allow_drift,
                allow_out_of_order=allow_out_of_order,
                lint=False,
                verify=False,
            )
        except SQLError as exc:
            if exc.hint != STATEMENT_LIMIT_HINT:
                raise
            # A file holding a statement over D1's 100,000 bytes cannot even be read into
            # a plan: that is the rehearsal's finding, and nothing runs.
            elapsed = (time.perf_counter() - started) * 1000
            limit = Finding(LIMIT, None, f"{exc.message} ({exc.hint})")
            return Rehearsal(db.database_name, source, (), (limit,), (), duration_ms=elapsed)
        findings, warnings = _checks(target, the_plan, allow, allow_broken_down)
        migrations = _run(target, the_plan, scratch, on_event)
        size, largest, end = _limits(scratch, size_cap, check_rows)
        kept = None
        if keep and copy:
            kept = Path(tempfile.mkdtemp(prefix="worktime-rehearsed-")) / "rehearsal.sqlite"
            _copy(scratch, kept)
        return Rehearsal(
            db.database_name,
            source,
            migrations,
            (*findings, *end),
            (*the_plan.warnings, *warnings),
            size,
            largest,
            (time.perf_counter() - started) * 1000,
            kept if keep else None,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy(source: Path, target: Path) -> None:
    """`source` (read-only, never changed) into the new file `target`, with the backup API."""
    src = open_read_only(source)
    try:
        out = sqlite3.connect(target)
        try:
            src.backup(out)
        finally:
            out.close()
    except sqlite3.Error as exc:
        raise SQLError(f"cannot copy {source} for the rehearsal: {exc}") from None
    finally:
        src.close()


def _checks(
    target: ScratchMigrations,
    the_plan: RunPlan,
    allow: Collection[str],
    allow_broken_down: bool,
) -> tuple[list[Finding], list[str]]:
    """Lint and verify what the plan applies, as apply does; their refusals become findings."""
    if not the_plan.steps:
        return [], []
    found = preflight.sources(target, missing_ok=False)
    applied = target.applied()
    findings: list[Finding] = []
    warnings: list[str] = []
    try:
        warnings += preflight.lint_pending(found, applied, the_plan, allow=allow)
    except LintError as exc:
        findings.append(Finding(LINT, None, exc.message))
    try:
        warnings += preflight.verify_pending(
            target, found, applied, the_plan, allow_broken_down=allow_broken_down
        )
    except preflight.BrokenDownError as exc:
        findings.append(Finding(VERIFY, None, exc.message))
    return findings, warnings


def _counts(path: Path, ledger: Collection[str]) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [
            str(name)
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not str(name).lower().startswith(INTERNAL_TABLE_PREFIXES)
            and str(name).lower() not in ledger
        ]
        return {
            name: int(conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0])
            for name in names
        }
    finally:
        conn.close()


def _rows(before: Mapping[str, int], after: Mapping[str, int]) -> tuple[TableRows, ...]:
    names = sorted(before.keys() | after.keys(), key=str.lower)
    return tuple(TableRows(n, before.get(n), after.get(n)) for n in names)


def _run(
    target: ScratchMigrations,
    the_plan: RunPlan,
    scratch: Path,
    on_event: Callable[[MigrationEvent], None] | None,
) -> tuple[RehearsedMigration, ...]:
    table = target.binding.migrations_table.lower()
    ledger = {table, table + FACTS_SUFFIX}
    results: list[RehearsedMigration] = []
    total = len(the_plan.steps)
    before = _counts(scratch, ledger)
    failed = False
    with target.lock():
        for index, step in enumerate(the_plan.steps, start=1):
            if failed:
                results.append(RehearsedMigration(step.name, NOT_REACHED, None, ()))
                continue
            if on_event:
                on_event(MigrationEvent(step.name, "start", index, total))
            warnings = tuple(
                w.message() + f" ({d1limits.BATCHING_ADVICE})"
                for w in d1limits.rewrite_warnings(step.label, step.statements, before)
            )
            began = time.perf_counter()
            try:
                target.run(step)
            except WorktimeError as exc:
                ms = (time.perf_counter() - began) * 1000
                failed = True
                after, findings = _probe(scratch, step, ledger)
                kind = LIMIT if exc.hint in _LIMIT_HINTS else FAILED
                findings.insert(0, Finding(kind, step.name, exc.message))
                lost, short = _losses(step, before, after)
                results.append(
                    RehearsedMigration(
                        step.name,
                        FAILED,
                        ms,
                        _rows(before, after),
                        (*findings, *lost),
                        (*warnings, *short),
                    )
                )
                if on_event:
                    on_event(MigrationEvent(step.name, "failed", index, total))
                continue
            ms = (time.perf_counter() - began) * 1000
            after = _counts(scratch, ledger)
            lost, short = _losses(step, before, after)
            results.append(
                RehearsedMigration(
                    step.name, APPLIED, ms, _rows(before, after), tuple(lost), (*warnings, *short)
                )
            )
            if on_event:
                on_event(MigrationEvent(step.name, "done", index, total))
            before = after
    return tuple(results)


def _probe(
    scratch: Path, step: Step, ledger: Collection[str]
) -> tuple[dict[str, int], list[Finding]]:
    """Re-run a failed migration in a transaction that is rolled back: its foreign-key
    violations and the rows it had removed when it failed (the run itself took it back)."""
    conn = d1.connect(scratch)
    findings: list[Finding] = []
    try:
        conn.execute("BEGIN IMMEDIATE /* worktime */")
        try:
            for statement in step.statements:
                conn.run(statement, step.label, collect=False)
        except WorktimeError:
            pass  # the failure is already reported; look at what it had done so far
        violations = conn.execute("PRAGMA foreign_key_check /* worktime */").fetchall()
        query = connection_query(conn)
        after = {
            name: int(query(f"SELECT count(*) AS n FROM {quote_identifier(name)}")[0]["n"])
            for name in d1limits.user_tables(query)
            if name.lower() not in ledger
        }
        if violations:
            by_pair: dict[tuple[str, str], list[int]] = {}
            for child, rowid, parent, _ in violations:
                by_pair.setdefault((str(child), str(parent)), []).append(rowid)
            for (child, parent), rowids in sorted(by_pair.items()):
                shown = ", ".join(str(r) for r in rowids[:_MAX_VIOLATIONS])
                more = "" if len(rowids) <= _MAX_VIOLATIONS else ", …"
                findings.append(
                    Finding(
                        FOREIGN_KEY,
                        step.name,
                        f"{len(rowids)} row(s) of {child} reference a missing {parent} row "
                        f"(rowid {shown}{more})",
                    )
                )
        return after, findings
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK /* worktime */")
        conn.close()


_DIRECT = re.compile(
    r"^(?:delete\s+from|drop\s+table(?:\s+if\s+exists)?|replace\s+into|insert\s+or\s+replace\s+into"
    r"|alter\s+table\s+\S+\s+rename\s+to)\s+(?:main\s*\.\s*)?(\S+)"
)


def _losses(
    step: Step, before: Mapping[str, int], after: Mapping[str, int]
) -> tuple[list[Finding], list[str]]:
    """Tables that lost rows: a finding when the migration did not remove them itself (see
    the module docstring); a warning when it rewrote the table and the copy came out short."""
    direct = set()
    for statement in step.statements:
        match = _DIRECT.match(normalise_sql(statement.sql) or "")
        if match is not None:
            direct.add(match.group(1))
    found: list[Finding] = []
    warnings: list[str] = []
    for name, rows in before.items():
        left = after.get(name)
        if left is None or left >= rows:
            continue
        if normalise_sql(quote_identifier(name)) in direct:
            warnings.append(
                f"{step.name}: {name} lost {rows - left:,} of its {rows:,} rows (the migration "
                "deletes from, replaces or rebuilds it: check that is meant)"
            )
            continue
        found.append(
            Finding(
                CASCADE,
                step.name,
                f"{name} lost {rows - left:,} of its {rows:,} rows though the migration does not "
                "delete from it: a cascade from a dropped or rebuilt parent (ON DELETE CASCADE "
                "fires on D1, where foreign keys cannot be turned off) or a trigger",
            )
        )
    return found, warnings


def _limits(
    scratch: Path, cap: int, check_rows: bool
) -> tuple[d1limits.SizeCheck, d1limits.LargestRow | None, list[Finding]]:
    conn = sqlite3.connect(scratch)
    try:
        query = connection_query(conn)
        pages = query("PRAGMA page_count")[0]["page_count"]
        page_size = query("PRAGMA page_size")[0]["page_size"]
        size = d1limits.size_check(int(pages) * int(page_size), cap)
        largest = d1limits.largest_rows(query)[:1] if check_rows else []
    finally:
        conn.close()
    findings = []
    if size.level == d1limits.ERROR:
        findings.append(
            Finding(LIMIT, None, "after the migrations the database is " + size.message())
        )
    row = largest[0] if largest else None
    if row is not None and row.level == d1limits.ERROR:
        findings.append(Finding(LIMIT, None, row.message() + ": D1 cannot hold it"))
    return size, row, findings
