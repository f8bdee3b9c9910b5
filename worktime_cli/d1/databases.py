"""Local databases as files: where each one lives, what it holds, and create and delete (the
config entry with the file; delete refused while a process holds the file open).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from worktime_cli import fsutil
from worktime_cli.d1.connection import connect
from worktime_cli.errors import LockedError, NotFoundError, WorktimeError
from worktime_cli.project import bindings, editing, state
from worktime_cli.project import config as configmod
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.script import INTERNAL_TABLE_PREFIXES, quote_identifier
from worktime_cli.targets.d1 import CreatedDatabase, DatabaseInfo, DeletedDatabase, TableInfo


def database_path(cfg: Config, db: D1Binding, persist_to: Path | None) -> Path:
    return state.d1_path(state.root(cfg, persist_to), db.local_id)


def describe(cfg: Config, db: D1Binding, persist_to: Path | None, *, tables: bool) -> DatabaseInfo:
    """Facts about one database; with `tables`, user tables and their row counts."""
    path = database_path(cfg, db, persist_to)
    exists = fsutil.is_file(path)
    size = sum(p.stat().st_size for p in (path, _sibling(path, "-wal")) if p.is_file())
    table_info: tuple[TableInfo, ...] | None = None
    if tables:
        if not exists:
            raise NotFoundError(
                f"database {db.database_name!r} has no local file yet ({path})",
                hint=f"apply its migrations with `worktime d1 migrations apply {db.database_name}`",
            )
        table_info = tuple(list_tables(path))
    return DatabaseInfo(
        binding=db.binding,
        database_name=db.database_name,
        database_id=db.database_id,
        path=path,
        exists=exists,
        size=size,
        num_tables=None if table_info is None else len(table_info),
        tables=table_info,
    )


def list_tables(path: Path) -> Iterator[TableInfo]:
    """User tables with row counts; D1's and SQLite's internal tables are hidden."""
    conn = connect(path)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for name in names:
            if name.lower().startswith(INTERNAL_TABLE_PREFIXES):
                continue
            (count,) = conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()
            yield TableInfo(name, count)
    finally:
        conn.close()


def create(
    cfg: Config, name: str, persist_to: Path | None, binding: str | None = None
) -> CreatedDatabase:
    """Add a `[[d1_databases]]` entry for `name` and create its local file."""
    existing = {b.binding for b in cfg.d1_databases} | {b.binding for b in cfg.kv_namespaces}
    validate_database_name(name)
    if any(db.database_name == name for db in cfg.d1_databases):
        raise WorktimeError(f"database {name!r} already exists in {cfg.path.name}")
    if binding is None:
        binding = "DB" if "DB" not in existing else bindings.binding_from_name(name)
    if binding in existing:
        raise WorktimeError(
            f"binding {binding!r} is already used in {cfg.path.name}",
            hint="choose one with --binding",
        )
    entry = {
        "binding": binding,
        "database_name": name,
        "database_id": str(uuid.uuid4()),
        "migrations_dir": configmod.DEFAULT_MIGRATIONS_DIR,
    }
    # State first, config second, the state rolled back if the config edit fails: a
    # read-only or full state folder must not leave an entry without its file (issue 13).
    planned = D1Binding(binding=binding, database_name=name, database_id=entry["database_id"])
    path = database_path(cfg, planned, persist_to)
    existed = path.exists()
    try:
        connect(path, create=True).close()
        new_cfg = editing.append_table(cfg, "d1_databases", entry)
    except BaseException:
        if not existed:
            for candidate in (path, _sibling(path, "-wal"), _sibling(path, "-shm")):
                with suppress(OSError):
                    candidate.unlink(missing_ok=True)
        raise
    db = new_cfg.d1(name)
    assert database_path(new_cfg, db, persist_to) == path
    return CreatedDatabase(
        binding=db.binding,
        database_name=db.database_name,
        database_id=entry["database_id"],
        config=new_cfg.path,
        path=path,
    )


_DATABASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def validate_database_name(name: str) -> None:
    """Letters, digits, `-`, `_`, `.`; no path tricks (the name names folders of ours)."""
    if not _DATABASE_NAME.fullmatch(name) or ".." in name:
        raise WorktimeError(
            f"{name!r} is not a valid database name",
            hint="use letters, digits, '-', '_' and '.', starting with a letter or digit",
        )


def delete(cfg: Config, db: D1Binding, persist_to: Path | None) -> DeletedDatabase:
    """Remove the local file (and its WAL/SHM) and the wrangler.toml entry.

    Refused while another process holds the file open: it would go on writing into the
    deleted file, and believe its rows kept (issue 19).
    """
    path = database_path(cfg, db, persist_to)
    existed = path.exists()
    refuse_if_open(path, db.database_name)
    for candidate in (path, _sibling(path, "-wal"), _sibling(path, "-shm")):
        candidate.unlink(missing_ok=True)
    editing.remove_table(cfg, "d1_databases", {"binding": db.binding})
    return DeletedDatabase(
        database_name=db.database_name,
        database_id=db.database_id,
        path=path,
        had_file=existed,
        config=cfg.path,
    )


def in_use_by(path: Path) -> str:
    """`PID 123 (workerd), PID 456 (sqlite3)`: who holds the database at `path` open ('': none
    that we can see)."""
    return fsutil.in_use_by((path, _sibling(path, "-wal"), _sibling(path, "-shm")))


def refuse_if_open(path: Path, database_name: str) -> None:
    """A `LockedError` naming the processes that hold the database at `path` open, if any do."""
    who = in_use_by(path)
    if who:
        raise LockedError(
            f"database {database_name} is in use by {who}; nothing was deleted",
            hint="stop that process (wrangler dev, worktime dev, a sqlite3 shell), then run "
            "the command again",
        )


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
