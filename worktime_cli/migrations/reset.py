"""`d1 reset`: a local database rebuilt from its migrations, after a snapshot. Local only.

A reset is the one operation that must never reach production (workers-sdk #8995: a user
resetting "locally" deleted the remote database), so there is no remote target here at all:
this module only knows the local file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli import d1, snapshots
from worktime_cli.config import Config, D1Binding
from worktime_cli.errors import NotFoundError, WorktimeError

if TYPE_CHECKING:
    from worktime_cli.migrations.engine import RunResult
    from worktime_cli.snapshots import Snapshot


@dataclass(frozen=True)
class ResetResult:
    """What `reset` did: the snapshot of the old content (None: there was no file), the
    migrations applied to the new file, and the seed file run after them (None: no seed)."""

    database: str
    path: Path
    snapshot: Snapshot | None
    applied: tuple[str, ...]
    seed: Path | None
    seed_statements: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "path": str(self.path),
            "snapshot": None if self.snapshot is None else str(self.snapshot.path),
            "applied": list(self.applied),
            "seed": None if self.seed is None else str(self.seed),
            "seed_statements": self.seed_statements,
        }


def reset(
    cfg: Config, db: D1Binding, persist_to: Path | None, *, seed: Path | None = None
) -> ResetResult:
    """Snapshot the local file, recreate it empty, apply every migration, run `seed`.

    The seed file is checked before anything changes. If a migration or the seed fails,
    the snapshot is kept and named in the error (`worktime d1 restore DB` puts it back).
    """
    from worktime_cli.migrations import LocalMigrations, MigrationError, engine

    if seed is not None and not seed.is_file():
        raise NotFoundError(f"no seed file at {seed}")
    path = d1.database_path(cfg, db, persist_to)
    # Labelled "reset" so `restore --list` shows which snapshot a reset left behind.
    snapshot = snapshots.take(cfg, db, persist_to, "reset")
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    d1.connect(path, create=True).close()
    target = LocalMigrations(cfg, persist_to, db)
    undo = (
        f"the old content is in snapshot {snapshot.name} (`worktime d1 restore {db.database_name} "
        f"{snapshot.name}`)"
        if snapshot is not None
        else "there was no file before"
    )
    try:
        # Lint and verify judge migrations before they reach a database that matters; the
        # ones replayed here are the project's history, applied before: not re-judged.
        result: RunResult = engine.apply(
            target, allow_empty=True, allow_out_of_order=True, verify=False, lint=False
        )
    except MigrationError as exc:
        raise MigrationError(f"{exc.message}; {undo}", exc.hint, exc.result) from None
    # engine.apply keeps its own snapshot of the (empty) file it started from: useless here.
    if result.snapshot is not None:
        snapshots.discard(result.snapshot)
    count = 0
    if seed is not None:
        try:
            done = d1.execute_file(path, seed)
        except WorktimeError as exc:
            raise WorktimeError(
                f"seed {seed} failed: {exc.message}; the migrations are applied, {undo}",
                exc.hint,
            ) from None
        count = int(done.meta.get("statements", 0) or 0)
    return ResetResult(db.database_name, path, snapshot, tuple(result.applied), seed, count)
