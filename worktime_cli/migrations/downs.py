"""A migration's down SQL: the down file, the copy captured at apply time, or the inverse
derived from the up file; which one a rollback would run, and why there is none.

Pure, like `plan`: the inputs are the file read once (`files.Source`) and its tracking row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from worktime_cli.migrations.derive import Derived, derive, is_derived
from worktime_cli.migrations.files import Source
from worktime_cli.migrations.seal import captured_doubt
from worktime_cli.sqlite.script import Statement, split

if TYPE_CHECKING:
    from worktime_cli.migrations.plan import AppliedRow  # plan imports this module


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


def has_down(down: str) -> bool:
    return down not in ("none", REFUSED)


def why_irreversible(source: Source | None, row: AppliedRow | None) -> str:
    """Why `down_for` found nothing, naming the statement (`file:line`) when it can."""
    if source is None:
        return "its file is gone and no down SQL was captured at apply time"
    if row is not None and row.checksum is not None and row.checksum != source.checksum:
        return "its file changed since it was applied, so its inverse cannot be derived"
    return derived(source).blocker or "no statement to undo"


def captured_down(source: Source) -> str | None:
    """The down SQL recorded at apply time: the down file's text when it holds a statement,
    else the derived inverse, else the down file's text as it is (None without one)."""
    if source.has_down_sql:
        return source.down_sql
    found = derived(source)
    return found.sql if found.sql is not None else source.down_sql
