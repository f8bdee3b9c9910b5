"""Migration files on disk: discovery in wrangler 4's order, checksums, reading, `create`.

Up files are `<migrations_dir>/*.sql`; down files are `<migrations_dir>/down/<same name>`:
a subfolder, so wrangler's `*.sql` listing never sees (and never runs) them. Every path to
a down file is built by `down_path`, so errors and hints name the real file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli import clock
from worktime_cli.config import Config, D1Binding
from worktime_cli.errors import NotFoundError, SQLError, UsageError, WorktimeError
from worktime_cli.sqlscript import Statement, split

DOWN_DIR = "down"
# Our bookkeeping table is `<migrations_table>` + this, beside wrangler's.
FACTS_SUFFIX = "_worktime"


def down_path(folder: Path, name: str) -> Path:
    """The down file of the up file `name` (`name` keeps its `.sql`: `down/0001_x.sql`)."""
    return folder / DOWN_DIR / name


@dataclass(frozen=True)
class MigrationFile:
    """One up file.

    name: the file name with `.sql`, exactly as recorded in `d1_migrations`.
    path: the up file. down_path: `<dir>/down/<name>` (it may not exist).
    number: the integer before the first `_` (as wrangler's parseInt), None if there is none.
    """

    name: str
    path: Path
    number: int | None
    down_path: Path

    @property
    def has_down(self) -> bool:
        """A down file exists (it may still hold no statement: see `Source.has_down_sql`)."""
        return self.down_path.is_file()


_LEADING_INT = re.compile(r"[+-]?\d+")


def migration_number(name: str) -> int | None:
    """`parseInt(name.split("_")[0])` as wrangler computes it; None where that is NaN."""
    match = _LEADING_INT.match(name.split("_", 1)[0].lstrip())
    return int(match.group()) if match else None


def sort_key(name: str) -> tuple[int, int, str]:
    """wrangler 4's apply order: by number, numbered before unnumbered, then by name."""
    number = migration_number(name)
    return (0, number, name) if number is not None else (1, 0, name)


def migrations_dir(cfg: Config, db: D1Binding) -> Path:
    return cfg.root / db.migrations_dir


def discover(folder: Path, *, missing_ok: bool = False) -> list[MigrationFile]:
    """The up files in `folder`, in the order wrangler 4 applies them.

    Only regular files directly in the folder whose name ends in `.sql`; no recursion
    (so `down/` is never an up file), dotfiles skipped (editor lock files like
    `.#0001_x.sql` end in `.sql` too). A missing folder is an error unless `missing_ok`.
    """
    if not folder.is_dir():
        if missing_ok:
            return []
        raise NotFoundError(
            f"no migrations folder at {folder}",
            hint="create the first migration with `worktime d1 migrations create DATABASE MESSAGE`",
        )
    names = [
        entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".sql") and not entry.name.startswith(".") and entry.is_file()
    ]
    names.sort(key=sort_key)
    return [
        MigrationFile(name, folder / name, migration_number(name), down_path(folder, name))
        for name in names
    ]


def checksum(data: bytes) -> str:
    """SHA-256 of an up file, normalised (BOM stripped, CRLF→LF) so a checkout's line
    endings do not count as a change."""
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def down_seal(name: str, up_checksum: str, down_sql: str) -> str:
    """The checksum stored with a captured down SQL, over the migration's name, its up file's
    checksum and the down SQL itself: a copy edited in the database, or moved to another
    migration, no longer matches. It is no signature: someone who recomputes it by hand can
    still forge a row, which is why a rollback also shows the statements before it asks."""
    digest = hashlib.sha256()
    for part in ("worktime-down-v1", name, up_checksum, down_sql):
        data = part.encode("utf-8", "surrogatepass")
        # Length-prefixed, so no two different triples hash the same bytes.
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def ledger_tables(migrations_table: str) -> tuple[str, str]:
    """The migrations ledger: wrangler's tracking table and our facts table beside it."""
    return migrations_table, migrations_table + FACTS_SUFFIX


def read_sql(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SQLError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SQLError(f"cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class Source:
    """One migration file read once: what every plan needs from the disk.

    down_sql: the down file's text, None when there is no down file. A down file that holds
    only comments has no statement: `has_down_sql` is False, and `list` and `rollback`
    both call that "no down SQL".
    """

    file: MigrationFile
    sql: str
    checksum: str
    statements: tuple[Statement, ...]
    down_sql: str | None
    down_statements: tuple[Statement, ...]

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def has_down_sql(self) -> bool:
        return bool(self.down_statements)


def read(file: MigrationFile) -> Source:
    """Read and split the up file and its down file (if any)."""
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        raise SQLError(f"cannot read {file.path}: {exc.strerror}") from None
    try:
        sql = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SQLError(f"{file.path}: not UTF-8 text") from None
    down = read_sql(file.down_path) if file.has_down else None
    return Source(
        file,
        sql,
        checksum(data),
        tuple(split(sql, str(file.path))),
        down,
        tuple(split(down, str(file.down_path))) if down is not None else (),
    )


def read_all(files: Sequence[MigrationFile]) -> list[Source]:
    return [read(f) for f in files]


def write_down(path: Path, sql: str) -> None:
    """Write a down file (atomically: an interrupted write leaves the old file)."""
    from worktime_cli.fsutil import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, sql.encode("utf-8"))


# --- create ----------------------------------------------------------------------------------

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(message: str) -> str:
    """The file-name part of a migration message: `[a-z0-9_]` only, `_` between words.

    Everything else (spaces, punctuation, path separators, accents) becomes one `_`, so a
    name is always a plain file inside the migrations folder and safe in every shell.
    """
    return _NOT_SLUG.sub("_", message.lower()).strip("_")


def _name_max(folder: Path) -> int:
    """The longest file name the migrations folder (or its nearest existing parent) allows."""
    here = folder
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return os.pathconf(here, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255  # every common file system


@dataclass(frozen=True)
class CreatedMigration:
    name: str
    path: Path
    down_path: Path

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "down_path": str(self.down_path)}


def create(cfg: Config, db: D1Binding, message: str) -> CreatedMigration:
    """Write the next `NNNN_<slug>.sql` and its `down/NNNN_<slug>.sql`.

    Numbering and header are wrangler's: highest leading integer + 1, zero-padded to 4;
    the up file starts `-- Migration number: NNNN \\t <ISO date>`. The message is slugged
    to `[a-z0-9_]` (wrangler only turns spaces into `_`); one with no letter or digit is a
    usage error.
    """
    if any("\udc80" <= ch <= "\udcff" for ch in message):
        # Bytes that are not UTF-8 on argv arrive as lone surrogates: refuse, never echo.
        raise UsageError("the migration message is not valid UTF-8", hint="retype it")
    words = slug(message)
    if not words:
        raise UsageError(
            f"the migration message {message!r} has no letters or digits",
            hint='describe the change, e.g. "add notes"',
        )
    folder = migrations_dir(cfg, db)
    existing = discover(folder, missing_ok=True)
    numbers = [m.number for m in existing if m.number is not None]
    number = f"{max([*numbers, 0]) + 1:04d}"
    name = f"{number}_{words}.sql"
    up = folder / name
    down = down_path(folder, name)
    # Refused before anything is written: a name the file system cannot hold.
    limit = _name_max(folder)
    if len(name.encode()) > limit:
        raise UsageError(
            f"the migration name is {len(name.encode())} bytes; this file system allows {limit}",
            hint="use a shorter message",
        )
    if up.exists() or down.exists():
        raise WorktimeError(f"{up} already exists")
    down.parent.mkdir(parents=True, exist_ok=True)
    moment = clock.now()
    now = (
        moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )  # JS toISOString
    up.write_text(f"-- Migration number: {number} \t {now}\n", encoding="utf-8")
    down.write_text(
        f"-- Rollback of {name}: undo what the up file does, in reverse order.\n"
        "-- While this file has no statements, `worktime d1 migrations rollback` refuses it.\n",
        encoding="utf-8",
    )
    return CreatedMigration(name, up, down)
