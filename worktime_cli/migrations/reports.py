"""What a target's migrations are, read-only: where each stands and one migration's down SQL
(from the files and the tracking rows), `migrations verify` and `migrations lint` of every
file (from the files alone). Nothing here changes a database; `down --write` only writes a
down file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import NotFoundError, WorktimeError
from worktime_cli.migrations import files
from worktime_cli.migrations.downs import down_for, why_irreversible
from worktime_cli.migrations.plan import Status, merge, resolve
from worktime_cli.migrations.preflight import sources
from worktime_cli.migrations.seal import TAMPERED

if TYPE_CHECKING:
    from worktime_cli.migrations.lint_codes import LintResult
    from worktime_cli.migrations.verify import VerifyResult
    from worktime_cli.targets.migrations import MigrationsTarget


def status(target: MigrationsTarget) -> Status:
    """Where each migration stands, including checksum drift (`drifted`). Reads only."""
    return Status(
        target.binding.database_name,
        tuple(merge(sources(target), target.applied())),
        target.location(),
    )


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
