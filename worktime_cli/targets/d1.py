"""D1 databases, local or remote: the protocol both implementations follow, and its results.

`worktime_cli.d1.LocalD1` works on the SQLite files `wrangler dev` uses; `worktime_cli.remote.
d1.RemoteD1` on Cloudflare's API. Both return the result types defined here, so a command
renders one type whichever target it was given, and `--json` has one shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# One statement with its bound values, as `D1Database.batch` takes them.
BoundStatement = tuple[str, Sequence[Any]]


@dataclass(frozen=True)
class StatementResult:
    """One statement's outcome in D1's shape: rows, and D1's meta (duration, changes …).

    Locally `meta` holds `duration`, `changes` and `last_row_id`; remote D1 adds its own
    counters (`rows_read`, `rows_written`, `size_after` …), passed through as it sends them.
    """

    results: list[dict[str, Any]]
    meta: Mapping[str, Any]
    success: bool = True

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.results

    @property
    def changes(self) -> int:
        return int(self.meta.get("changes") or 0)

    @property
    def last_row_id(self) -> int:
        return int(self.meta.get("last_row_id") or 0)

    @property
    def duration_ms(self) -> float:
        return float(self.meta.get("duration") or 0.0)

    def to_json(self) -> dict[str, Any]:
        """wrangler's shape: `{"results", "success", "meta"}`."""
        return {"results": self.results, "success": self.success, "meta": dict(self.meta)}


@dataclass(frozen=True)
class FileResult:
    """The outcome of `execute --file`: totals, plus the rows of statements that returned any.

    `meta.statements` counts the statements run; `meta.changes` every row changed (SQLite's
    total_changes locally, so trigger and cascade changes too). Remote D1's import adds its
    bookmark and whether the file had to be uploaded.
    """

    meta: Mapping[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    messages: tuple[str, ...] = ()

    @property
    def statements(self) -> int:
        return int(self.meta.get("statements") or 0)

    @property
    def changes(self) -> int:
        return int(self.meta.get("changes") or 0)

    @property
    def last_row_id(self) -> int:
        return int(self.meta.get("last_row_id") or 0)

    @property
    def duration_ms(self) -> float:
        return float(self.meta.get("duration") or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"results": self.rows, "success": True, "meta": dict(self.meta)}


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "rows": self.rows}


@dataclass(frozen=True)
class DatabaseInfo:
    """What `d1 list` and `d1 info` report about one database.

    Every key is always present: what a target cannot know is null (a remote database has
    no local `path`; a local one has no `created_at`), so scripts read one shape.
    """

    database_name: str
    database_id: str | None
    binding: str | None = None
    path: Path | None = None
    exists: bool | None = None
    size: int | None = None
    created_at: str | None = None
    version: str | None = None
    num_tables: int | None = None
    tables: tuple[TableInfo, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "database_name": self.database_name,
            "database_id": self.database_id,
            "path": None if self.path is None else str(self.path),
            "exists": self.exists,
            "size": self.size,
            "created_at": self.created_at,
            "version": self.version,
            "num_tables": self.num_tables,
            "tables": None if self.tables is None else [t.to_json() for t in self.tables],
        }


@dataclass(frozen=True)
class DatabaseList:
    databases: tuple[DatabaseInfo, ...]
    on_cloudflare: bool = False

    def to_json(self) -> list[dict[str, Any]]:
        return [db.to_json() for db in self.databases]


@dataclass(frozen=True)
class CreatedDatabase:
    """A new database: its wrangler.toml entry, and where its data lives."""

    binding: str
    database_name: str
    database_id: str
    config: Path
    path: Path | None = None  # the local file, when one was created
    created_at: str | None = None
    local_moved_from: Path | None = None  # the local file moved to follow a new database_id
    local_moved_to: Path | None = None
    on_cloudflare: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "database_name": self.database_name,
            "database_id": self.database_id,
            "created_at": self.created_at,
            "config": str(self.config),
            "path": _str(self.path),
            "local_moved_from": _str(self.local_moved_from),
            "local_moved_to": _str(self.local_moved_to),
        }


@dataclass(frozen=True)
class DeletedDatabase:
    database_name: str
    database_id: str | None
    path: Path | None = None  # the local file removed (locally only)
    had_file: bool | None = None
    config: Path | None = None  # the wrangler.toml it was removed from (locally only)
    on_cloudflare: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "database_name": self.database_name,
            "database_id": self.database_id,
            "path": _str(self.path),
            "had_file": self.had_file,
            "config": _str(self.config),
        }


@dataclass(frozen=True)
class ExportResult:
    path: Path
    tables: tuple[str, ...]
    rows: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "tables": list(self.tables),
            "rows": self.rows,
            "size": self.size,
        }


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


class D1Database(Protocol):
    """One database, resolved: run SQL on it, import a file, export it."""

    @property
    def name(self) -> str: ...

    @property
    def database_id(self) -> str | None: ...

    def execute(self, sql: str) -> list[StatementResult]:
        """Run `--command` SQL: every statement in one transaction, one result each."""
        ...

    def execute_file(
        self,
        path: Path,
        on_progress: Callable[[int], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> FileResult:
        """Run a SQL file all-or-nothing."""
        ...

    def import_warning(self, path: Path) -> str | None:
        """What to confirm before `execute_file` (remote D1 blocks queries meanwhile), or None."""
        ...

    def export(
        self,
        output: Path,
        *,
        data: bool = True,
        schema: bool = True,
        tables: Sequence[str] = (),
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> ExportResult:
        """Write a SQL dump that `execute_file` re-imports.

        `on_progress(rows, rows in all or None)` as the dump is written, where the target
        can tell (remote D1 builds the dump on its side and says nothing until it is done).
        """
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of ONE statement, values bound (never interpolated)."""
        ...

    def batch(self, statements: Sequence[BoundStatement]) -> list[list[dict[str, Any]]]:
        """Rows of each statement; all of them in one transaction, all or nothing."""
        ...


class D1Databases(Protocol):
    """The databases of a project (local) or of an account (remote)."""

    @property
    def place(self) -> str:
        """'local' or 'remote': how prompts and messages name the target."""
        ...

    def list(self) -> DatabaseList: ...

    def create(
        self, name: str, *, binding: str | None = None, location: str | None = None
    ) -> CreatedDatabase: ...

    def delete(self, name: str) -> DeletedDatabase: ...

    def info(self, name: str) -> DatabaseInfo: ...

    def database(self, name_or_binding: str, *, preview: bool = False) -> D1Database:
        """A configured (or, remotely, an account's) database; `preview`: wrangler's
        `--preview`, the binding's preview_database_id (remote only, as wrangler)."""
        ...
