"""The remote target of the D1 seam (see `worktime_cli.targets.d1`): the account's databases
(`RemoteD1`) and one database on Cloudflare (`RemoteD1Database`), with the local target's
arguments, checks and results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worktime_cli.errors import RemoteError, SQLError
from worktime_cli.project.config import Config
from worktime_cli.remote.client import Client
from worktime_cli.remote.d1.databases import (
    RemoteDatabase,
    configured_binding,
    create_database,
    delete_database,
    describe,
    list_databases,
    resolve,
)
from worktime_cli.remote.d1.queries import check_rules, param, query, sql_error
from worktime_cli.remote.d1.transfer import export_database, import_file
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


class RemoteD1Database:
    """One database on Cloudflare, resolved to its uuid."""

    def __init__(self, client: Client, database: RemoteDatabase) -> None:
        self.client = client
        self.remote = database

    @property
    def name(self) -> str:
        return self.remote.name

    @property
    def database_id(self) -> str:
        return self.remote.uuid

    def execute(self, sql: str) -> list[StatementResult]:
        from worktime_cli.sqlite import script as sqlscript

        statements = sqlscript.split(sql)
        if not statements:
            raise SQLError("no SQL statement to run")
        check_rules(statements, "command")
        try:
            # wrangler sends `--command` as it was typed: D1 runs it as one batch.
            return query(self.client, self.remote.uuid, sql)
        except RemoteError as exc:
            raise sql_error(exc, statements, "command") from None

    def execute_file(
        self,
        path: Path,
        on_progress: Callable[[int], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> FileResult:
        from worktime_cli.sqlite import script as sqlscript

        # The local target's checks, before anything is uploaded: the file exists, is SQL
        # text, and breaks none of D1's statement rules (named `file:line`, as locally).
        sql_file = sqlscript.open_sql_file(path)
        statements = sqlscript.without_transaction_wrapper(
            sqlscript.iter_statements(sql_file.chunks())
        )
        for statement in statements:
            check_rules([statement], str(path))
        imported = import_file(
            self.client, self.remote.uuid, path, on_progress=on_progress, on_message=on_message
        )
        meta = imported.to_json()["meta"]
        return FileResult(meta=meta, messages=imported.messages)

    def import_warning(self, path: Path) -> str | None:
        return (
            f"This runs {path} on the remote database {self.remote.name} ({self.remote.uuid}); "
            "the database is unavailable to other queries while it imports, which may take "
            "some time. Ok to proceed?"
        )

    def export(
        self,
        output: Path,
        *,
        data: bool = True,
        schema: bool = True,
        tables: Sequence[str] = (),
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> ExportResult:
        del on_progress  # D1 reports no progress of the dump it builds (see the protocol)
        return export_database(
            self.client, self.remote.uuid, output, data=data, schema=schema, tables=tables
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.batch([(sql, params)])[0]

    def batch(self, statements: Sequence[BoundStatement]) -> list[list[dict[str, Any]]]:
        """All statements in ONE `/query` request, so D1 runs them as one atomic batch.

        The published API this project validates against (2024) takes one `sql` and its
        `params`; D1 refuses params with several statements (7400). So: one statement goes
        as `{sql, params}`; several without values are joined into one `sql`, as wrangler
        sends `--command`; several with values use D1's newer `{"batch": [{sql, params}]}`
        body (api-schemas' `d1_batch-query`). Values are always bound, never interpolated.
        """
        from worktime_cli.sqlite import script as sqlscript

        parsed = []
        for i, (sql, _params) in enumerate(statements, 1):
            found = sqlscript.split(sql)
            if len(found) != 1:
                raise SQLError(
                    f"batch statement {i}: expected one SQL statement, got {len(found)}",
                    hint="send one statement per call when binding parameters",
                )
            parsed.append(found[0])
        if not parsed:
            return []
        for i, statement in enumerate(parsed, 1):
            check_rules([statement], f"batch statement {i}")
        if len(statements) == 1:
            ((sql, params),) = statements
            body: dict[str, Any] = {"sql": sql}
            if params:
                body["params"] = [param(p) for p in params]
        elif not any(params for _sql, params in statements):
            body = {"sql": "\n".join(_terminated(s.sql) for s in parsed)}
        else:
            body = {
                "batch": [
                    {"sql": sql, "params": [param(p) for p in params]} for sql, params in statements
                ]
            }
        path = self.client.account_path(f"/d1/database/{self.remote.uuid}/query")
        try:
            result = self.client.call("POST", path, json=body).result
        except RemoteError as exc:
            source = "batch statement 1" if len(parsed) == 1 else "batch"
            raise sql_error(exc, parsed, source) from None
        answers = list(result or [])
        if len(answers) != len(parsed):
            raise RemoteError(
                f"D1 answered {len(answers)} result(s) for {len(parsed)} statement(s)"
            )
        return [list(item.get("results") or []) for item in answers]


def _terminated(sql: str) -> str:
    import sqlite3

    if sqlite3.complete_statement(sql):
        return sql
    # A trailing `-- comment` would swallow a `;` on its line: then end it on a new line.
    return sql + ";" if sqlite3.complete_statement(sql + ";") else sql + "\n;"


class RemoteD1:
    """The account's D1 databases, through Cloudflare's API."""

    place = "remote"

    def __init__(self, client: Client, config: Config, persist_to: Path | None = None) -> None:
        self.client = client
        self.config = config
        self.persist_to = persist_to  # where the local file lives, moved by `create`

    def _info(self, database: RemoteDatabase) -> DatabaseInfo:
        binding = next(
            (
                b
                for b in self.config.d1_databases
                if b.database_id == database.uuid or b.database_name == database.name
            ),
            None,
        )
        return DatabaseInfo(
            binding=None if binding is None else binding.binding,
            database_name=database.name,
            database_id=database.uuid,
            size=database.file_size,
            created_at=database.created_at,
            version=database.version,
            num_tables=database.num_tables,
        )

    def list(self) -> DatabaseList:
        return DatabaseList(
            tuple(self._info(db) for db in list_databases(self.client)), on_cloudflare=True
        )

    def create(
        self, name: str, *, binding: str | None = None, location: str | None = None
    ) -> CreatedDatabase:
        created = create_database(
            self.client,
            self.config,
            name,
            location=location,
            persist_to=self.persist_to,
            binding=binding,
        )
        return CreatedDatabase(
            binding=created.binding,
            database_name=created.database.name,
            database_id=created.database.uuid,
            config=created.config_path,
            created_at=created.database.created_at,
            local_moved_from=created.moved_from,
            local_moved_to=created.moved_to,
            on_cloudflare=True,
        )

    def delete(self, name: str) -> DeletedDatabase:
        found = resolve(self.client, self.config, name)
        delete_database(self.client, found.uuid)
        return DeletedDatabase(database_name=found.name, database_id=found.uuid, on_cloudflare=True)

    def info(self, name: str) -> DatabaseInfo:
        return self._info(describe(self.client, self.config, name))

    def database(self, name_or_binding: str, *, preview: bool = False) -> RemoteD1Database:
        # As wrangler: a configured database_id is used as is, so a query is one round trip
        # (no lookup first); a wrong id fails on that request with Cloudflare's own error.
        binding = configured_binding(self.config, name_or_binding)
        if preview:
            # wrangler's --preview needs the configured binding's preview_database_id.
            binding = self.config.d1(name_or_binding).previewed(self.config.path.name)
        if binding is not None and binding.database_id:
            known = RemoteDatabase(uuid=binding.database_id, name=binding.database_name)
            return RemoteD1Database(self.client, known)
        return RemoteD1Database(self.client, resolve(self.client, self.config, name_or_binding))
