"""Snapshots of a local database, taken before migrations change it, and restoring them.

A snapshot is a complete, self-contained SQLite file made with SQLite's online backup API,
which reads through a normal connection: pages still in the `-wal` file are included, and
a concurrent writer cannot tear the copy. Files live in
`<state>/v3/d1/snapshots/<database_name>/<UTC timestamp>-<operation>.sqlite`; only the
newest `KEEP` are kept.

The ring is pruned only once a new snapshot is known to stay (`settle`), never when it is
taken: a run that changes nothing discards its snapshot, and had the oldest been pruned for
it, a snapshot of nothing would have displaced one of data; a restore would prune the very
snapshot it is about to read. So after any command the ring holds at most `KEEP`, and every
snapshot that existed before it except the oldest ones the kept new ones displaced.

A snapshot is written under a temporary name (`fsutil.temp_path`) and renamed when complete;
temp files a killed run left (and their SQLite journals) are removed by the next snapshot or
restore once older than the grace period. `restore` checks a snapshot with
`PRAGMA quick_check` before it replaces anything, and names the newest good one if it fails.
A restore (and a reset, `replace`) changes the live file in place, never unlinks it
(`worktime_cli.d1.inplace`), and takes its safety snapshot under the live file's write lock.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from worktime_cli import clock, fsutil
from worktime_cli.d1 import inplace
from worktime_cli.d1.connection import connect
from worktime_cli.d1.databases import database_path
from worktime_cli.errors import NotFoundError, SQLError
from worktime_cli.project import state
from worktime_cli.project.config import Config, D1Binding, d1_everywhere
from worktime_cli.sqlite.errors import storage_error

KEEP = 10
OPERATIONS = ("apply", "rollback", "restore", "reset")
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-(apply|rollback|restore|reset)\.sqlite$")
# What worktime 1 named its snapshot temp files (`.<name>.tmp`, plus SQLite's journal).
_V1_TEMP = re.compile(r"^\..+\.sqlite\.tmp(?:-journal)?$")


@dataclass(frozen=True)
class Snapshot:
    """One snapshot file. `name` is what `worktime d1 restore DB NAME` accepts."""

    name: str
    path: Path
    created: datetime  # UTC, from the file name
    operation: str  # apply | rollback | restore | reset: what was about to run when taken
    size: int  # bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "operation": self.operation,
            "size": self.size,
        }


def folder(cfg: Config, db: D1Binding, persist_to: Path | None) -> Path:
    """The snapshots of `db`'s local file, never of another environment's.

    Folders are named by database_name. Where the config gives one name to more than one
    local database (`[env.production]` with its own database_id), only the top level's
    keeps the plain name (worktime before `--env` on d1 only ever snapshotted the top
    level's, so the snapshots there are its own); each other one gets a folder of its own.
    """
    same_name = [(env, b) for env, b in d1_everywhere(cfg) if b.database_name == db.database_name]
    local_ids = {b.local_id for _, b in same_name}
    top_level = {b.local_id for env, b in same_name if env is None}
    distinct = len(local_ids) > 1 and db.local_id not in top_level
    return state.d1_snapshot_dir(
        state.root(cfg, persist_to), db.database_name, db.local_id if distinct else None
    )


def take(cfg: Config, db: D1Binding, persist_to: Path | None, operation: str) -> Snapshot | None:
    """Copy the live database into a new snapshot; None when there is no database file yet.

    The copy is written to a temporary name and renamed, so a crash never leaves a
    half-written snapshot that `restore` could pick. The ring is not pruned here: call
    `settle` once the snapshot is to stay, or `discard` when the run changed nothing.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown snapshot operation {operation!r}")
    source_path = database_path(cfg, db, persist_to)
    if not fsutil.is_file(source_path):
        return None
    target_dir = folder(cfg, db, persist_to)
    with fsutil.translated(target_dir, "create"):
        target_dir.mkdir(parents=True, exist_ok=True)
    clean_temps(target_dir)
    created = clock.now()
    name = f"{created.strftime(_STAMP)}-{operation}.sqlite"
    target = target_dir / name
    tmp = fsutil.temp_path(target)
    source = connect(source_path)
    try:
        _backup(source, tmp)
        with fsutil.translated(target):
            tmp.replace(target)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return Snapshot(name, target, created, operation, target.stat().st_size)


def clean_temps(target_dir: Path) -> int:
    """Remove what killed snapshot runs left in `target_dir` (older than the grace period)."""
    return fsutil.clean_temps(target_dir, also=_V1_TEMP)


def discard(snapshot: Snapshot) -> None:
    """Delete a snapshot of a run that changed nothing: restoring it would restore nothing."""
    snapshot.path.unlink(missing_ok=True)


def settle(snapshot: Snapshot, *, keep: int = KEEP) -> None:
    """`snapshot` stays: prune its ring to the newest `keep` (it is the newest)."""
    _prune(snapshot.path.parent, keep)


def settle_ring(cfg: Config, db: D1Binding, persist_to: Path | None, *, keep: int = KEEP) -> None:
    """Prune `db`'s ring to the newest `keep`: after a run that kept the snapshot it took."""
    _prune(folder(cfg, db, persist_to), keep)


def _backup(source: sqlite3.Connection, target: Path) -> None:
    target.unlink(missing_ok=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        # The copy inherits WAL mode from the source's header; a snapshot must be one
        # self-contained file, so switch it back to a rollback journal.
        copy.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise storage_error(exc, target, what="snapshot") or SQLError(
            f"cannot write snapshot {target}: {exc}"
        ) from None
    finally:
        copy.close()


def _prune(target_dir: Path, keep: int) -> None:
    for old in _files(target_dir)[keep:]:
        old.unlink(missing_ok=True)


def _files(target_dir: Path) -> list[Path]:
    """Snapshot files, newest first (the timestamped names sort chronologically)."""
    if not target_dir.is_dir():
        return []
    return sorted((p for p in target_dir.iterdir() if _NAME.match(p.name)), reverse=True)


@dataclass(frozen=True)
class SnapshotList:
    """`d1 restore --list`: the snapshots of one database, newest first."""

    database: str
    snapshots: tuple[Snapshot, ...]

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.snapshots]


def snapshot_list(cfg: Config, db: D1Binding, persist_to: Path | None) -> SnapshotList:
    return SnapshotList(db.database_name, tuple(list_snapshots(cfg, db, persist_to)))


def list_snapshots(cfg: Config, db: D1Binding, persist_to: Path | None) -> list[Snapshot]:
    """All snapshots of `db`, newest first."""
    result = []
    for path in _files(folder(cfg, db, persist_to)):
        match = _NAME.match(path.name)
        assert match is not None
        created = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # pruned by a concurrent run
            continue
        result.append(Snapshot(path.name, path, created, match.group(2), size))
    return result


def find(cfg: Config, db: D1Binding, persist_to: Path | None, name: str | None = None) -> Snapshot:
    """The snapshot called `name` (with or without `.sqlite`), or the newest apply/rollback one."""
    available = list_snapshots(cfg, db, persist_to)
    if name is None:
        # A `restore` snapshot is the state just before a restore; restoring it would
        # only undo that restore, so "the newest" means the newest apply/rollback one.
        for snapshot in available:
            if snapshot.operation != "restore":
                return snapshot
        raise NotFoundError(
            f"database {db.database_name!r} has no snapshots",
            hint="snapshots are taken by `worktime d1 migrations apply` and `rollback`",
        )
    for snapshot in available:
        if name in (snapshot.name, snapshot.name.removesuffix(".sqlite")):
            return snapshot
    raise NotFoundError(
        f"no snapshot {name!r} for database {db.database_name!r}",
        hint=f"list them with `worktime d1 restore {db.database_name} --list`",
    )


def check(snapshot: Snapshot) -> str | None:
    """None when `snapshot` is a sound SQLite file (`PRAGMA quick_check`), else what is wrong.

    quick_check reads every page and checks its structure (not index contents), so a
    truncated or overwritten copy fails in time linear in its size.
    """
    try:
        source = sqlite3.connect(f"{snapshot.path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = source.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        source.close()
    if rows == [("ok",)]:
        return None
    return "; ".join(str(row[0]) for row in rows)[:200]


@dataclass(frozen=True)
class RestoreResult:
    restored: Snapshot
    previous: Snapshot | None  # the state just before the restore, itself restorable

    def to_json(self) -> dict[str, Any]:
        return {
            "restored": self.restored.to_json(),
            "previous": None if self.previous is None else self.previous.to_json(),
        }


def restore(
    cfg: Config, db: D1Binding, persist_to: Path | None, snapshot: Snapshot
) -> RestoreResult:
    """Replace the live database's content with `snapshot`'s, in place (see `replace`).

    The current content is snapshotted first (operation `restore`), so a restore is itself
    undoable. The backup API writes the live file in one transaction under its write lock:
    readers and `wrangler dev` see the old database or the restored one, never a mix, and
    keep every row they commit afterwards.
    """
    problem = check(snapshot)
    if problem is not None:
        good = next(
            (
                s
                for s in list_snapshots(cfg, db, persist_to)
                if s.created < snapshot.created and check(s) is None
            ),
            None,
        )
        hint = (
            f"restore the newest good one: `worktime d1 restore {db.database_name} {good.name}`"
            if good is not None
            else f"no older snapshot of {db.database_name!r} passes the check either"
        )
        raise SQLError(
            f"snapshot {snapshot.path} is damaged ({problem}); nothing was restored", hint=hint
        )
    previous = replace(cfg, db, persist_to, snapshot.path, "restore")
    return RestoreResult(restored=snapshot, previous=previous)


def replace(
    cfg: Config, db: D1Binding, persist_to: Path | None, source: Path, operation: str
) -> Snapshot | None:
    """Snapshot the live database (labelled `operation`), then give it `source`'s content.

    In place: the file is never unlinked, so a process holding it open sees the new content
    and keeps what it writes later. The snapshot is taken under the live file's write lock,
    so no row another process commits falls between it and the new content. Returns the
    snapshot (None: there was no file before); it stays in the ring, which is then pruned.
    If the replacement fails, the live file is as it was and the snapshot is discarded.
    """
    target = database_path(cfg, db, persist_to)
    existed = fsutil.is_file(target)
    taken: list[Snapshot] = []

    def snapshot_now() -> None:
        if existed and (snap := take(cfg, db, persist_to, operation)) is not None:
            taken.append(snap)

    try:
        inplace.copy_into(
            target, source, what=f"database {db.database_name!r}", under_lock=snapshot_now
        )
    except BaseException:
        for snap in taken:
            discard(snap)
        raise
    if not taken:
        return None
    settle(taken[0])
    return taken[0]
