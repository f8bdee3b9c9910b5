"""`d1 reset`: a local database rebuilt from its migrations, after a snapshot. Local only.

A reset is the one operation that must never reach production (workers-sdk #8995: a user
resetting "locally" deleted the remote database), so there is no remote target here at all:
this module only knows the local file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli import d1, fsutil
from worktime_cli.d1 import snapshots
from worktime_cli.errors import NotFoundError, WorktimeError
from worktime_cli.migrations.local import ScratchMigrations
from worktime_cli.project.config import Config, D1Binding

if TYPE_CHECKING:
    from worktime_cli.d1.snapshots import Snapshot
    from worktime_cli.migrations.engine import MigrationEvent, RunResult


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
    cfg: Config,
    db: D1Binding,
    persist_to: Path | None,
    *,
    seed: Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ResetResult:
    """Build the new content from every migration and `seed`, snapshot the file, swap it in.

    The new content is built in a scratch file beside the snapshots, so a failing migration
    or seed changes nothing (and keeps no snapshot). It then replaces the live file's
    content in place (`snapshots.replace`): a process holding the file open (`wrangler dev`)
    sees the new content and keeps every row it commits afterwards, which an unlink and a
    new file would have sent into a deleted inode (issue 19).

    `on_progress(steps done, steps in all)`: one step per migration, one for the seed, one
    for the swap; the total is None until the migrations are planned.
    """
    from worktime_cli.migrations import MigrationError, engine

    if seed is not None and not seed.is_file():
        raise NotFoundError(f"no seed file at {seed}")
    path = d1.database_path(cfg, db, persist_to)
    scratch_dir = snapshots.folder(cfg, db, persist_to)
    with fsutil.translated(scratch_dir, "create"):
        scratch_dir.mkdir(parents=True, exist_ok=True)
    snapshots.clean_temps(scratch_dir)
    scratch = fsutil.temp_path(scratch_dir / f"reset-{db.database_name}.sqlite")
    steps = _Steps(on_progress, after=2 if seed is not None else 1)
    try:
        d1.connect(scratch, create=True).close()  # no migrations at all: an empty database
        target = ScratchMigrations(cfg, persist_to, db, scratch)
        try:
            # Lint and verify judge migrations before they reach a database that matters;
            # the ones replayed here are the project's history, applied before: not re-judged.
            result: RunResult = engine.apply(
                target,
                allow_empty=True,
                allow_out_of_order=True,
                verify=False,
                lint=False,
                on_event=steps.migration,
            )
        except MigrationError as exc:
            raise MigrationError(
                f"{exc.message}; {db.database_name} was not changed", exc.hint, exc.result
            ) from None
        steps.planned(len(result.applied))
        count = 0
        if seed is not None:
            try:
                done = d1.execute_file(scratch, seed, create=True)
            except WorktimeError as exc:
                raise WorktimeError(
                    f"seed {seed} failed: {exc.message}; {db.database_name} was not changed",
                    exc.hint,
                ) from None
            count = int(done.meta.get("statements", 0) or 0)
            steps.one_more()
        # Labelled "reset" so `restore --list` shows which snapshot a reset left behind.
        snapshot = snapshots.replace(cfg, db, persist_to, scratch, "reset")
        steps.one_more()
    finally:
        for leftover in (scratch, *(scratch.with_name(scratch.name + s) for s in _SIDE_FILES)):
            leftover.unlink(missing_ok=True)
    return ResetResult(db.database_name, path, snapshot, tuple(result.applied), seed, count)


_SIDE_FILES = ("-wal", "-shm", "-journal")


class _Steps:
    """A reset's progress in steps: each migration, then the `after` steps (seed, swap)."""

    def __init__(self, report: Callable[[int, int | None], None] | None, *, after: int) -> None:
        self.report = report
        self.after = after
        self.done = 0
        self.total: int | None = None

    def migration(self, event: MigrationEvent) -> None:
        if event.kind == "done":
            self.total = event.total + self.after
            self._step(event.index)

    def planned(self, migrations: int) -> None:
        self.total = migrations + self.after  # also when there was no migration to run
        self._step(migrations)

    def one_more(self) -> None:
        self._step(self.done + 1)

    def _step(self, done: int) -> None:
        self.done = done
        if self.report is not None:
            self.report(done, self.total)
