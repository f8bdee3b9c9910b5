"""`d1 pull`'s local half: a SQL dump (as it downloads) becomes the local database's content.

The remote half (D1's export API: POST …/export with `output_format: "polling"` and the
`current_bookmark`, then GET of the `signed_url`) hands the dump over as text chunks; this
module never sees HTTP. The dump is loaded into an in-memory database and, with `rules`,
masked there (`worktime_cli.d1.sanitize`); only then is a file written: a temporary file beside
the live one, whose content replaces the live database's in place (`snapshots.replace`: a
snapshot of the local content first, under the live file's write lock; the file is never
unlinked, so `wrangler dev` keeps working on it). With `rules`, no unmasked byte is ever
written to disk: the temporary file holds the masked copy only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.d1 import snapshots
from worktime_cli.d1.databases import database_path
from worktime_cli.d1.sanitize import Rules, SanitizeResult, sanitize_dump
from worktime_cli.d1.snapshots import Snapshot
from worktime_cli.project.config import Config, D1Binding

# What the snapshot ring calls the state a pull replaced. `snapshots.OPERATIONS` has no
# "pull" yet; until it has, the snapshot is labelled as a restore's (it is one: a restore of
# the database's content from elsewhere).
SNAPSHOT_OPERATION = "pull" if "pull" in snapshots.OPERATIONS else "restore"

NO_RULES = Rules({}, source="none")


@dataclass(frozen=True)
class PullResult:
    """The local database now holds the pulled content; `snapshot`: its content before."""

    database: str
    path: Path
    snapshot: Snapshot | None
    sanitized: SanitizeResult | None

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "path": str(self.path),
            "snapshot": None if self.snapshot is None else str(self.snapshot.path),
            "sanitized": None if self.sanitized is None else self.sanitized.to_json(),
        }


def pull_into_local(
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    chunks: Iterable[str],
    *,
    rules: Rules | None = None,
    on_loaded: Callable[[], None] | None = None,
) -> PullResult:
    """Replace `db`'s local content with the dump in `chunks`, masked by `rules` when given."""
    live = database_path(cfg, db, persist_to)
    with fsutil.translated(live.parent, "create"):
        live.parent.mkdir(parents=True, exist_ok=True)
    temp = fsutil.temp_path(live)
    try:
        result = sanitize_dump(chunks, temp, rules or NO_RULES, on_loaded=on_loaded)
        snapshot = snapshots.replace(cfg, db, persist_to, temp, SNAPSHOT_OPERATION)
    finally:
        for leftover in (temp, Path(f"{temp}-journal"), Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)
    return PullResult(db.database_name, live, snapshot, result if rules is not None else None)
