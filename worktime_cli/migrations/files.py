"""Migration files on disk: discovery in wrangler's order, checksums, reading, `create`.

Up files are what the binding's `migrations_pattern` matches under `migrations_dir`
(default `${migrations_dir}/*.sql`), found and ordered by wrangler's own rules
(`pattern.py`): regular files only (symlinks are skipped, as wrangler 4.164 skips them), no
dotfiles, ordered by number folder level by folder level. A migration's name is its path
relative to `migrations_dir` (`0001_init.sql`, `0001_init/migration.sql`), as wrangler
records it in `d1_migrations`.

Down files mirror the up file's name under a down folder the pattern can never match:
`<migrations_dir>/down/` when wrangler's walk never enters it (the default pattern), else
the sibling `<migrations_dir>-down/`, outside `migrations_dir` where no pattern reaches (a
pattern must start with `${migrations_dir}/`). wrangler would run a down file it matched as
a migration. Every path to a down file is built by `Layout.down_path`, so errors and hints
name the real file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from worktime_cli import clock
from worktime_cli.errors import NotFoundError, SQLError, UsageError, WorktimeError
from worktime_cli.fsutil import os_error
from worktime_cli.migrations.pattern import Glob, path_key, segment_number
from worktime_cli.project.bindings import normalize_relative_path
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.sqlite.script import Statement, split

DOWN_DIR = "down"
DOWN_SIBLING_SUFFIX = "-down"
# Our bookkeeping table is `<migrations_table>` + this, beside wrangler's.
FACTS_SUFFIX = "_worktime"


@dataclass(frozen=True)
class Layout:
    """Where one binding's migrations are: the folder, the pattern, the down folder.

    folder: `migrations_dir`. pattern: as wrangler shows it (relative to the config).
    glob: the pattern relative to `folder`. custom: a `migrations_pattern` is set.
    down_folder: where down files go (see the module docstring).
    """

    folder: Path
    pattern: str = "migrations/*.sql"
    glob: Glob = field(default_factory=lambda: Glob.compile("*.sql"))
    custom: bool = False
    down_folder: Path | None = None

    @classmethod
    def default(cls, folder: Path) -> Layout:
        """No `migrations_pattern`: `<folder>/*.sql`, down files in `<folder>/down/`."""
        return cls(folder, f"{folder.name}/*.sql", Glob.compile("*.sql"), False, folder / DOWN_DIR)

    @property
    def downs(self) -> Path:
        return self.down_folder if self.down_folder is not None else self.folder / DOWN_DIR

    def down_path(self, name: str) -> Path:
        """The down file of the migration `name` (`down/0001_x.sql`, or
        `<dir>-down/0001_x/migration.sql` under a pattern that reaches `down/`)."""
        return self.downs.joinpath(*name.split("/"))

    def finds(self, name: str) -> bool:
        """wrangler's walk would pick up `<folder>/<name>` as a migration (if it were a file)."""
        parts = name.split("/")
        return all(
            self.glob.match("/".join(parts[:i]), partial=True) for i in range(1, len(parts))
        ) and self.glob.match(name)


def layout(cfg: Config, db: D1Binding) -> Layout:
    """The binding's layout; wrangler's error for a `migrations_pattern` it refuses."""
    folder = migrations_dir(cfg, db)
    relative = db.migrations_glob(cfg.path.name)
    if relative is None:
        default = normalize_relative_path(f"{db.migrations_dir}/*.sql")
        return replace(Layout.default(folder), pattern=default)
    glob = Glob.compile(relative)
    pattern = normalize_relative_path(db.migrations_pattern or "")
    down_folder = folder / DOWN_DIR
    if glob.match(DOWN_DIR, partial=True):
        # wrangler's walk enters `down/`: a down file there could run as a migration.
        if folder.resolve() == cfg.root.resolve():
            raise UsageError(
                f'migrations_pattern "{pattern}" can reach every folder of the project, so '
                "worktime has no place for down files that wrangler would not run as migrations",
                hint='set `migrations_dir` to a folder (e.g. "migrations") and start the '
                "pattern with it",
            )
        down_folder = folder.parent / (folder.name + DOWN_SIBLING_SUFFIX)
    return Layout(folder, pattern, glob, True, down_folder)


def down_path(folder: Path, name: str) -> Path:
    """The down file of `name` in the default layout (`down/0001_x.sql`)."""
    return Layout.default(folder).down_path(name)


@dataclass(frozen=True)
class MigrationFile:
    """One up file.

    name: its path relative to migrations_dir, with `/` (`0001_x.sql`,
    `0001_x/migration.sql`), exactly as recorded in `d1_migrations`.
    path: the up file. down_path: its down file (it may not exist).
    number: the integer its first segment starts with (wrangler's parseInt), None if none.
    """

    name: str
    path: Path
    number: int | None
    down_path: Path

    @property
    def has_down(self) -> bool:
        """A down file exists (it may still hold no statement: see `Source.has_down_sql`)."""
        return self.down_path.is_file()


def migration_number(name: str) -> int | None:
    """`parseInt(name.split("/")[0].split("_")[0], 10)` as wrangler computes it; None where
    that is NaN (or not finite)."""
    value = segment_number(name.split("/", 1)[0])
    return None if value is None else int(value)


def sort_key(name: str) -> Any:
    """wrangler's apply order (`compareMigrationPaths`): segment by segment, by number
    (numbered before unnumbered), then by name (`2_b` before `10_c`)."""
    return path_key(name)


def migrations_dir(cfg: Config, db: D1Binding) -> Path:
    return cfg.root / db.migrations_dir


@dataclass(frozen=True)
class Walk:
    """What wrangler's walk finds: the migration names, in apply order, and the symlinks
    it passes over (a symlinked file the pattern matches, or folder it would enter)."""

    names: tuple[str, ...]
    symlinks: tuple[str, ...]


def walk(where: Layout) -> Walk:
    """wrangler's `listFilesRelative`: regular files whose relative path the glob matches,
    entering only real folders the glob could reach."""
    names: list[str] = []
    links: list[str] = []
    stack: list[tuple[Path, str]] = [(where.folder, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            child = entry.name if rel == "" else f"{rel}/{entry.name}"
            if entry.is_symlink():
                target_dir = entry.is_dir()
                if where.glob.match(child, partial=target_dir):
                    links.append(child)
            elif entry.is_dir(follow_symlinks=False):
                if where.glob.match(child, partial=True):
                    stack.append((Path(entry.path), child))
            elif entry.is_file(follow_symlinks=False) and where.glob.match(child):
                names.append(child)
    names.sort(key=path_key)
    links.sort(key=path_key)
    return Walk(tuple(names), tuple(links))


def _is_folder(path: Path) -> bool:
    """Whether `path` is a folder; one that exists but cannot be read (a symlink loop, no
    permission) is an error naming it, not a missing folder with no migrations."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise os_error(exc, path, "read") from None


def discover(where: Layout | Path, *, missing_ok: bool = False) -> list[MigrationFile]:
    """The up files, in the order wrangler 4 applies them (a bare folder: the default
    layout). A missing folder is an error unless `missing_ok`."""
    where = where if isinstance(where, Layout) else Layout.default(where)
    folder = where.folder
    if not _is_folder(folder):
        if missing_ok:
            return []
        raise NotFoundError(
            f"no migrations folder at {folder}",
            hint="create the first migration with `worktime d1 migrations create DATABASE MESSAGE`",
        )
    return [
        MigrationFile(
            name, folder.joinpath(*name.split("/")), migration_number(name), where.down_path(name)
        )
        for name in walk(where).names
    ]


def stray_downs(names: Sequence[str]) -> list[str]:
    """The migrations the pattern finds inside worktime's `down/` folder: down files wrangler
    would run as migrations."""
    return [name for name in names if name.split("/", 1)[0] == DOWN_DIR and "/" in name]


def stray_downs_error(where: Layout, names: Sequence[str]) -> WorktimeError:
    """The refusal (and the fix) when `migrations_pattern` matches down files."""
    shown = ", ".join(str(where.folder / n) for n in names[:3]) + (" …" if len(names) > 3 else "")
    return WorktimeError(
        f'migrations_pattern "{where.pattern}" matches down files ({shown}): wrangler would run '
        "them as migrations; nothing applied",
        hint=down_move_fix(where),
    )


def down_move_fix(where: Layout) -> str:
    old, new = where.folder / DOWN_DIR, where.downs
    return (
        f"move the down files where the pattern cannot reach them: `mkdir -p {new} && "
        f"git mv {old}/* {new}/` (worktime reads them there), or narrow migrations_pattern"
    )


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
    """Write the next `NNNN_<slug>.sql` and its down file.

    Numbering and header are wrangler's: highest leading integer + 1, zero-padded to 4;
    the up file starts `-- Migration number: NNNN \\t <ISO date>`. The message is slugged
    to `[a-z0-9_]` (wrangler only turns spaces into `_`); one with no letter or digit is a
    usage error. Under a `migrations_pattern` the file is `NNNN_<slug>.sql` when the pattern
    matches that, else `NNNN_<slug>/migration.sql` (the drizzle layout) when it matches
    that; otherwise a usage error naming the pattern (wrangler refuses too).
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
    where = layout(cfg, db)
    folder = where.folder
    existing = discover(where, missing_ok=True)
    numbers = [m.number for m in existing if m.number is not None]
    number = f"{max([*numbers, 0]) + 1:04d}"
    candidates = [f"{number}_{words}.sql", f"{number}_{words}/migration.sql"]
    name = next((c for c in candidates if where.finds(c)), None)
    if name is None:
        raise UsageError(
            f'migrations_pattern "{where.pattern}" matches neither {folder / candidates[0]} '
            f"nor {folder / candidates[1]}, so a new migration would never be applied; "
            "nothing created",
            hint="create it with the tool that owns this layout (e.g. `drizzle-kit generate`), "
            f"or change migrations_pattern to match top-level files (e.g. "
            f'"{normalize_relative_path(db.migrations_dir)}/*.sql")',
        )
    up = folder.joinpath(*name.split("/"))
    down = where.down_path(name)
    # Refused before anything is written: a name the file system cannot hold.
    limit = _name_max(folder)
    longest = max(len(part.encode()) for part in name.split("/"))
    if longest > limit:
        raise UsageError(
            f"the migration name is {longest} bytes; this file system allows {limit}",
            hint="use a shorter message",
        )
    if up.exists() or down.exists():
        raise WorktimeError(f"{up if up.exists() else down} already exists")
    up.parent.mkdir(parents=True, exist_ok=True)
    down.parent.mkdir(parents=True, exist_ok=True)
    moment = clock.now()
    now = (
        moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )  # JS toISOString
    up.write_text(f"-- Migration number: {number} \t {now}\n", encoding="utf-8")
    down.write_text(
        f"-- Rollback of {name}: undo what the up file does, in reverse order.\n"
        "-- While this file has no statements, `worktime d1 migrations rollback` uses the\n"
        "-- inverse it derives from the up file (creates, added columns, renames) and refuses\n"
        "-- only a migration it cannot invert: write the SQL here for those.\n",
        encoding="utf-8",
    )
    return CreatedMigration(name, up, down)
