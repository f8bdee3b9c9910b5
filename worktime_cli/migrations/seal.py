"""Down SQL read from the database runs only when it is tied to the migration it undoes.

worktime records each migration's down SQL in its facts table at apply time, so a rollback
works on a checkout that lacks the down file. That table is writable by other means
(`d1 execute`, the dashboard, a restored dump), so a copy read from it is a claim, not a
fact: it runs only when its seal (`files.down_seal`, written in the same statement) matches,
or, for a copy written before seals existed, when it is exactly the inverse the unchanged
up file derives. Anything else is refused, by name, before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from worktime_cli.errors import WorktimeError
from worktime_cli.migrations.derive import derive
from worktime_cli.migrations.files import FACTS_SUFFIX, Source, down_seal

if TYPE_CHECKING:
    from worktime_cli.migrations.plan import AppliedRow  # plan imports this module (via downs)

UNSEALED = "unsealed"
TAMPERED = "tampered"

_WHY = {
    TAMPERED: "does not match the checksum stored with it (changed outside worktime after it "
    "was applied)",
    UNSEALED: "has no checksum (recorded by an older worktime, or written outside worktime), "
    "so it cannot be tied to the migration",
}


def captured_doubt(source: Source | None, row: AppliedRow) -> str | None:
    """None when the copy in `row` is the one recorded when it was applied, else why not."""
    down = row.down_sql or ""
    if row.down_checksum is not None:
        if row.checksum is not None and row.down_checksum == down_seal(
            row.name, row.checksum, down
        ):
            return None
        return TAMPERED
    if source is not None and row.checksum == source.checksum:
        derived = derive(str(source.file.path), source.name, source.statements).sql
        if derived == down:
            return None  # what the unchanged up file derives: it proves itself
    return UNSEALED


def doubt_error(
    doubtful: Sequence[tuple[str, str]],
    *,
    database: str,
    folder: Path,
    migrations_table: str,
    remote: bool,
) -> WorktimeError:
    """The refusal of `(name, doubt)` pairs, with the way to a down file the user has read
    (`folder`: the down folder)."""
    facts = migrations_table + FACTS_SUFFIX
    reasons = [f"the down SQL recorded for it in {facts} {_WHY[doubt]}" for _, doubt in doubtful]
    said = (
        reasons[0]
        if len(doubtful) == 1
        else "; ".join(f"{name}: {why}" for (name, _), why in zip(doubtful, reasons, strict=True))
    )
    name, doubt = doubtful[0]
    path = folder.joinpath(*name.split("/"))
    if doubt == TAMPERED:
        hint = f"write the SQL that undoes it in {path} (or restore that file), then retry"
    elif remote:
        hint = (
            f'`worktime d1 execute {database} --remote --command "SELECT down_sql FROM {facts} '
            f"WHERE name = '{name}'\"` shows the recorded copy: review it, save it as {path}, "
            "then retry"
        )
    else:
        hint = (
            f"`worktime d1 migrations down {database} {name} --write` writes the recorded copy "
            f"to {path}: review it, then retry"
        )
    return WorktimeError(
        f"cannot roll back {', '.join(n for n, _ in doubtful)}: {said}; nothing changed",
        hint=hint,
    )
