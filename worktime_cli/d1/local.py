"""The local target of the D1 seam (see `worktime_cli.targets.d1`): the databases configured in
wrangler.toml and one database's file, as `wrangler dev` uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worktime_cli.d1.connection import connect
from worktime_cli.d1.databases import create, database_path, delete, describe
from worktime_cli.d1.execute import batch, execute_command, execute_file, query
from worktime_cli.errors import UsageError
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.targets.d1 import (
    BoundStatement,
    CreatedDatabase,
    DatabaseInfo,
    DatabaseList,
    DeletedDatabase,
    ExportResult,
    FileResult,
    StatementResult,
)


def export(
    db_path: Path,
    output: Path,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ExportResult:
    """Dump a local database to `output` (see `dump`): re-imports with `execute_file`."""
    from worktime_cli.d1 import dump

    dump.check_parts(data=data, schema=schema)
    conn = connect(db_path)
    try:
        return dump.export(
            conn, output, data=data, schema=schema, tables=tables, on_progress=on_progress
        )
    finally:
        conn.close()


# --- the local target of the seam (see worktime_cli.targets.d1) ------------------------------


class LocalDatabase:
    """One configured database's local file, as `wrangler dev` uses it."""

    def __init__(self, binding: D1Binding, path: Path) -> None:
        self.binding = binding
        self.path = path

    @property
    def name(self) -> str:
        return self.binding.database_name

    @property
    def database_id(self) -> str | None:
        return self.binding.database_id

    def execute(self, sql: str) -> list[StatementResult]:
        # A configured database without a file yet is created, as `wrangler d1 execute` does.
        return execute_command(self.path, sql, create=True)

    def execute_file(
        self,
        path: Path,
        on_progress: Callable[[int], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> FileResult:
        return execute_file(self.path, path, on_progress, create=True)

    def import_warning(self, path: Path) -> str | None:
        return None  # a local file stays usable: nothing to confirm

    def export(
        self,
        output: Path,
        *,
        data: bool = True,
        schema: bool = True,
        tables: Sequence[str] = (),
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> ExportResult:
        return export(
            self.path, output, data=data, schema=schema, tables=tables, on_progress=on_progress
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return query(self.path, sql, params, create=True)

    def batch(self, statements: Sequence[BoundStatement]) -> list[list[dict[str, Any]]]:
        return batch(self.path, statements, create=True)


class LocalD1:
    """The databases configured in wrangler.toml, backed by local SQLite files."""

    place = "local"

    def __init__(self, config: Config, persist_to: Path | None = None) -> None:
        self.config = config
        self.persist_to = persist_to

    def list(self) -> DatabaseList:
        return DatabaseList(
            tuple(
                describe(self.config, db, self.persist_to, tables=False)
                for db in self.config.d1_databases
            )
        )

    def create(
        self, name: str, *, binding: str | None = None, location: str | None = None
    ) -> CreatedDatabase:
        if location is not None:
            raise UsageError("--location needs --remote")
        return create(self.config, name, self.persist_to, binding)

    def delete(self, name: str) -> DeletedDatabase:
        return delete(self.config, self.config.d1(name), self.persist_to)

    def info(self, name: str) -> DatabaseInfo:
        return describe(self.config, self.config.d1(name), self.persist_to, tables=True)

    def database(self, name_or_binding: str, *, preview: bool = False) -> LocalDatabase:
        db = self.config.d1(name_or_binding)
        if preview:  # the local file is the preview id's already (`local_id`)
            db = db.previewed(self.config.path.name)
        return LocalDatabase(db, database_path(self.config, db, self.persist_to))
