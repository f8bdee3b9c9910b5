"""Remote D1: databases, queries and the `--file` import flow, under /accounts/{id}/d1."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.errors import NotFoundError, RemoteError, SQLError, WorktimeError
from worktime_cli.project import bindings, editing, state
from worktime_cli.project import config as configmod
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.remote.client import Client
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

LOCATIONS = ("wnam", "enam", "weur", "eeur", "apac", "oc")
UPLOAD_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteDatabase:
    uuid: str
    name: str
    created_at: str | None = None
    version: str | None = None
    num_tables: int | None = None
    file_size: int | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RemoteDatabase:
        return cls(
            uuid=str(item.get("uuid", "")),
            name=str(item.get("name", "")),
            created_at=item.get("created_at"),
            version=item.get("version"),
            num_tables=item.get("num_tables"),
            file_size=item.get("file_size"),
        )

    def to_json(self) -> dict[str, Any]:
        # The local commands' keys where the concept is the same (name, id, size).
        return {
            "database_name": self.name,
            "database_id": self.uuid,
            "created_at": self.created_at,
            "version": self.version,
            "num_tables": self.num_tables,
            "size": self.file_size,
        }


@dataclass(frozen=True)
class CreateResult:
    database: RemoteDatabase
    binding: str
    config_path: Path
    moved_from: Path | None  # the local file, when it existed under the old id
    moved_to: Path | None

    def to_json(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "database_name": self.database.name,
            "database_id": self.database.uuid,
            "created_at": self.database.created_at,
            "config": str(self.config_path),
            "local_moved_from": str(self.moved_from) if self.moved_from else None,
            "local_moved_to": str(self.moved_to) if self.moved_to else None,
        }


# One statement's answer from D1: the same type the local target returns.
QueryResult = StatementResult


@dataclass(frozen=True)
class ImportResult:
    num_queries: int
    final_bookmark: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    uploaded: bool = True  # False when Cloudflare already had a file with this etag
    messages: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        # The local `execute --file --json` item's shape; D1's import reports no rows.
        return {
            "results": [],
            "success": True,
            "meta": {
                **self.meta,
                "statements": self.num_queries,
                "final_bookmark": self.final_bookmark,
                "uploaded": self.uploaded,
            },
        }


def list_databases(
    client: Client, *, name: str | None = None, per_page: int = 100
) -> list[RemoteDatabase]:
    """Every database of the account (all pages)."""
    params = {"name": name} if name else None
    path = client.account_path("/d1/database")
    return [
        RemoteDatabase.from_api(item)
        for item in client.paginate(path, params=params, per_page=per_page)
    ]


def get_database(client: Client, database_id: str) -> RemoteDatabase:
    result = client.call("GET", client.account_path(f"/d1/database/{database_id}")).result
    return RemoteDatabase.from_api(result or {})


def resolve(client: Client, cfg: Config | None, name: str) -> RemoteDatabase:
    """The remote database for `name`: wrangler.toml's database_id, else a lookup by name."""
    binding = _binding(cfg, name)
    if binding is not None and binding.database_id:
        return get_database(client, binding.database_id)
    wanted = binding.database_name if binding is not None else name
    for db in list_databases(client, name=wanted):
        if db.name == wanted:
            return db
    # As locally: "did you mean …?" from the names that exist; a hint to create only when
    # the account has none (a second, empty database next to a typo helps nobody).
    names = [db.name for db in list_databases(client)]
    # config's rule, shared (ask: make it public as config.did_you_mean).
    hint = configmod.did_you_mean(
        wanted,
        names,
        shown=names,
        create=f"create it with `worktime d1 create {wanted} --remote`",
    )
    raise NotFoundError(f"no remote database named {wanted!r} in this account", hint=hint)


def describe(client: Client, cfg: Config | None, name: str) -> RemoteDatabase:
    """`d1 info --remote`: like `resolve`, but always with the details only GET by id has."""
    found = resolve(client, cfg, name)
    return found if found.num_tables is not None else get_database(client, found.uuid)


def _binding(cfg: Config | None, name: str) -> D1Binding | None:
    if cfg is None:
        return None
    for db in cfg.d1_databases:
        if name in (db.database_name, db.binding):
            return db
    return None


def create_database(
    client: Client,
    cfg: Config,
    name: str,
    *,
    location: str | None = None,
    persist_to: Path | None = None,
    binding: str | None = None,
) -> CreateResult:
    """Create the database on Cloudflare, record its uuid, and keep the local data with it.

    The local file's name is derived from the database id, so changing database_id would
    orphan the local data: the file (and its -wal/-shm) moves to the new id's name.
    """
    from worktime_cli.d1 import validate_database_name

    validate_database_name(name)  # before anything exists on Cloudflare
    if location is not None and location not in LOCATIONS:
        raise RemoteError(
            f"unknown location {location!r}", hint=f"use one of: {', '.join(LOCATIONS)}"
        )
    body: dict[str, Any] = {"name": name}
    if location:
        body["primary_location_hint"] = location
    result = client.call("POST", client.account_path("/d1/database"), json=body).result or {}
    database = RemoteDatabase.from_api(result)
    if not database.uuid:
        raise RemoteError("Cloudflare created the database but returned no uuid")

    existing = _binding(cfg, name)
    root = state.root(cfg, persist_to)
    if existing is None:
        used = {b.binding for b in cfg.d1_databases} | {b.binding for b in cfg.kv_namespaces}
        chosen = binding or ("DB" if "DB" not in used else bindings.binding_from_name(name))
        # Into the selected env's section (`[env.NAME]`), as wrangler's --env writes it.
        new_cfg = editing.append_table(
            cfg,
            "d1_databases",
            {
                "binding": chosen,
                "database_name": name,
                "database_id": database.uuid,
                "migrations_dir": configmod.DEFAULT_MIGRATIONS_DIR,
            },
        )
        return CreateResult(database, chosen, new_cfg.path, None, None)

    old_path = state.d1_path(root, existing.local_id)
    new_cfg = editing.update_table(
        cfg, "d1_databases", {"binding": existing.binding}, {"database_id": database.uuid}
    )
    new_path = state.d1_path(root, new_cfg.d1(existing.binding).local_id)
    moved_from, moved_to = _move_database_file(old_path, new_path)
    return CreateResult(database, existing.binding, new_cfg.path, moved_from, moved_to)


def _move_database_file(old: Path, new: Path) -> tuple[Path | None, Path | None]:
    if old == new or not old.exists():
        return None, None
    if new.exists():
        raise RemoteError(
            f"database created and wrangler.toml updated, but {new} already exists;"
            f" the local data stays in {old}",
            hint="move or delete one of the two files yourself",
        )
    new.parent.mkdir(parents=True, exist_ok=True)
    # WAL and SHM first: a crash between moves leaves the main file (the data) in place.
    for suffix in ("-wal", "-shm"):
        sibling = old.with_name(old.name + suffix)
        if sibling.exists():
            sibling.replace(new.with_name(new.name + suffix))
    old.replace(new)
    return old, new


def delete_database(client: Client, database_id: str) -> None:
    client.call("DELETE", client.account_path(f"/d1/database/{database_id}"))


def query(
    client: Client, database_id: str, sql: str, params: list[Any] | None = None
) -> list[QueryResult]:
    """Run `sql` (several statements run as one atomic batch) with optional bound params.

    D1 refuses params with several statements (7400), so that is caught before sending.
    """
    if params is not None:
        from worktime_cli.sqlite import script as sqlscript

        if len(sqlscript.split(sql)) > 1:
            raise SQLError(
                "parameters can only be bound to a single statement",
                hint="send one statement per call when binding parameters",
            )
    body: dict[str, Any] = {"sql": sql}
    if params is not None:
        body["params"] = [_param(p) for p in params]
    result = client.call(
        "POST", client.account_path(f"/d1/database/{database_id}/query"), json=body
    ).result
    return [
        QueryResult(
            results=list(item.get("results") or []),
            meta=dict(item.get("meta") or {}),
            success=bool(item.get("success", True)),
        )
        for item in result or []
    ]


def _param(value: Any) -> Any:
    # The API's schema types params as strings; D1 accepts JSON numbers and null too, so
    # only values JSON cannot carry are converted.
    if isinstance(value, bytes):
        raise SQLError("blob parameters cannot be sent to remote D1", hint="use X'…' in the SQL")
    return value


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(UPLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(
    client: Client,
    database_id: str,
    path: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    max_polls: int = 3600,
) -> ImportResult:
    """`execute --file --remote`: init → upload → ingest → poll, as wrangler does.

    The file goes to a presigned URL (no Authorization header: it is not Cloudflare's API
    and must not see the token); the ETag it returns must equal our md5, or nothing is
    ingested.
    """
    import_path = client.account_path(f"/d1/database/{database_id}/import")
    etag = md5_file(path)
    init = client.call("POST", import_path, json={"action": "init", "etag": etag}).result or {}
    filename = init.get("filename")
    upload_url = init.get("upload_url")
    uploaded = False
    if upload_url:
        response = client.send(
            "PUT",
            str(upload_url),
            content=b"".join(_read_chunks(path, on_progress)),
            authenticated=False,
        )
        if not response.is_success:
            raise RemoteError(f"uploading {path.name} failed: HTTP {response.status_code}")
        returned = response.headers.get("etag", "").strip('"')
        if returned != etag:
            raise RemoteError(
                f"uploading {path.name} did not arrive intact (ETag {returned or 'missing'}, expected {etag})",
                hint="run the command again",
            )
        uploaded = True
    if not filename:
        raise RemoteError("Cloudflare's import init returned no filename")
    answer = (
        client.call(
            "POST", import_path, json={"action": "ingest", "etag": etag, "filename": filename}
        ).result
        or {}
    )
    messages: list[str] = []
    for _ in range(max_polls):
        for line in answer.get("messages") or []:
            messages.append(str(line))
            if on_message is not None:
                on_message(str(line))
        status = answer.get("status")
        if status == "complete" or (answer.get("success") is True and "result" in answer):
            done = answer.get("result") or {}
            return ImportResult(
                num_queries=int(done.get("num_queries") or 0),
                final_bookmark=done.get("final_bookmark"),
                meta=dict(done.get("meta") or {}),
                uploaded=uploaded,
                messages=tuple(messages),
            )
        if status == "error" or answer.get("success") is False:
            raise SQLError(
                f"{path.name}: import failed: {answer.get('error') or 'unknown error'}",
                hint="nothing after the failing statement ran; fix the file and run it again",
            )
        bookmark = answer.get("at_bookmark")
        if not bookmark:
            raise RemoteError("Cloudflare's import returned no bookmark to poll")
        if _ > 0:
            client.sleep(poll_interval)
        answer = (
            client.call(
                "POST",
                import_path,
                json={"action": "poll", "current_bookmark": bookmark},
                idempotent=True,
            ).result
            or {}
        )
    raise RemoteError(
        f"{path.name}: the import did not finish in time", hint="check the database later"
    )


def _read_chunks(path: Path, on_progress: Callable[[int], None] | None) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(UPLOAD_CHUNK), b""):
            if on_progress is not None:
                on_progress(len(chunk))
            yield chunk


_CREATE_TABLE = re.compile(
    r'CREATE TABLE (?:IF NOT EXISTS )?(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|([\w$]+))', re.I
)


def export_url(
    client: Client,
    database_id: str,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_message: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    max_polls: int = 3600,
) -> str:
    """Ask D1 for a dump and poll until it is ready: the signed URL it can be downloaded from
    (`export_database` downloads it to a file, `download_text` as text chunks in memory)."""
    from worktime_cli.d1.dump import check_parts

    check_parts(data=data, schema=schema)
    path = client.account_path(f"/d1/database/{database_id}/export")
    options = {"no_data": not data, "no_schema": not schema, "tables": list(tables)}
    bookmark: str | None = None
    for attempt in range(max_polls):
        body: dict[str, Any] = {"output_format": "polling", "dump_options": options}
        if bookmark is not None:
            body["current_bookmark"] = bookmark
        answer = client.call("POST", path, json=body, idempotent=True).result or {}
        for line in answer.get("messages") or []:
            if on_message is not None:
                on_message(str(line))
        status = answer.get("status")
        if status == "complete":
            break
        if status == "error" or answer.get("success") is False:
            raise RemoteError(f"export failed: {answer.get('error') or 'unknown error'}")
        bookmark = answer.get("at_bookmark")
        if not bookmark:
            raise RemoteError("Cloudflare's export returned no bookmark to poll")
        if attempt > 0:
            client.sleep(poll_interval)
    else:
        raise RemoteError("the export did not finish in time", hint="try again later")
    url = (answer.get("result") or {}).get("signed_url")
    if not url:
        raise RemoteError("Cloudflare's export finished without a download URL")
    return str(url)


def download_text(
    client: Client, url: str, *, on_progress: Callable[[int, int | None], None] | None = None
) -> Iterator[str]:
    """The dump at the signed `url` as text chunks while it downloads, written nowhere.

    `on_progress(bytes so far, total or None)` after each chunk. The URL is presigned: no
    Authorization header goes with it.
    """
    import httpx

    try:
        with client.http.stream("GET", url) as response:
            if not response.is_success:
                raise RemoteError(f"downloading the export failed: HTTP {response.status_code}")
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            for text in response.iter_text():
                if on_progress is not None:
                    on_progress(response.num_bytes_downloaded, total)
                yield text
    except httpx.TransportError as exc:
        raise RemoteError(
            f"downloading the export failed ({type(exc).__name__})", hint="try again"
        ) from None


def export_database(
    client: Client,
    database_id: str,
    output: Path,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_message: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    max_polls: int = 3600,
) -> ExportResult:
    """`d1 export --remote`: ask D1 for a dump, poll until it is ready, download it, as wrangler.

    The dump comes from a presigned URL (no Authorization header: it is not Cloudflare's
    API). It is written atomically, so a failed download leaves no partial file.
    """

    url = export_url(
        client,
        database_id,
        data=data,
        schema=schema,
        tables=tables,
        on_message=on_message,
        poll_interval=poll_interval,
        max_polls=max_polls,
    )
    response = client.send("GET", url, authenticated=False)
    if not response.is_success:
        raise RemoteError(f"downloading the export failed: HTTP {response.status_code}")
    output = output.resolve()
    # The local export's rule: a FIFO or device is written into, a file replaced atomically.
    with fsutil.atomic_output(output) as out:
        out.write(response.content)
    # D1's dump has one statement per line: the summary is read from it, not guessed.
    names: list[str] = []
    rows = 0
    for line in response.text.splitlines():
        if line.startswith("INSERT INTO"):
            rows += 1
        elif (match := _CREATE_TABLE.match(line)) is not None:
            quoted, backtick, bracket, bare = match.groups()
            names.append(quoted.replace('""', '"') if quoted else backtick or bracket or bare)
    return ExportResult(
        path=output,
        tables=tuple(names) if schema else tuple(tables),
        rows=rows,
        size=output.stat().st_size,
    )


# --- the remote target of the seam (see worktime_cli.targets.d1) -----------------------------

D1_QUERY_ERROR = 7500  # D1's code for a statement SQLite refused; the message ends `: SQLITE_…`
_SQLITE_SUFFIX = re.compile(r"^(?P<text>.*?)(?:: (?P<name>SQLITE_[A-Z_]+))?$", re.S)


def _sql_error(exc: RemoteError, statements: Sequence[Any], source: str) -> WorktimeError:
    """D1's 7500 as the local target words it: `source:line: message (in: statement)`.

    Classified by Cloudflare's code, not by words. D1 does not say which statement of a
    batch failed, so only a single statement gets its line and text.
    """
    from worktime_cli.sqlite.script import shorten

    if exc.code != D1_QUERY_ERROR:
        return exc
    raw = exc.message.removeprefix(f"{D1_QUERY_ERROR}: ")
    match = _SQLITE_SUFFIX.match(raw)
    text = match.group("text") if match else raw
    if len(statements) == 1:
        (statement,) = statements
        return SQLError(f"{source}:{statement.line}: {text} (in: {shorten(statement.sql)})")
    return SQLError(f"{source}: {text}")


def _check_rules(statements: Sequence[Any], source: str) -> None:
    """D1's statement rules, checked before sending: the local target's words and place."""
    from worktime_cli.d1 import refused_by_d1
    from worktime_cli.sqlite.script import shorten

    for statement in statements:
        reason = refused_by_d1(statement.sql)
        if reason is not None:
            raise SQLError(f"{source}:{statement.line}: {reason} (in: {shorten(statement.sql)})")


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
        _check_rules(statements, "command")
        try:
            # wrangler sends `--command` as it was typed: D1 runs it as one batch.
            return query(self.client, self.remote.uuid, sql)
        except RemoteError as exc:
            raise _sql_error(exc, statements, "command") from None

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
            _check_rules([statement], str(path))
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
            _check_rules([statement], f"batch statement {i}")
        if len(statements) == 1:
            ((sql, params),) = statements
            body: dict[str, Any] = {"sql": sql}
            if params:
                body["params"] = [_param(p) for p in params]
        elif not any(params for _sql, params in statements):
            body = {"sql": "\n".join(_terminated(s.sql) for s in parsed)}
        else:
            body = {
                "batch": [
                    {"sql": sql, "params": [_param(p) for p in params]}
                    for sql, params in statements
                ]
            }
        path = self.client.account_path(f"/d1/database/{self.remote.uuid}/query")
        try:
            result = self.client.call("POST", path, json=body).result
        except RemoteError as exc:
            source = "batch statement 1" if len(parsed) == 1 else "batch"
            raise _sql_error(exc, parsed, source) from None
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
        binding = _binding(self.config, name_or_binding)
        if preview:
            # wrangler's --preview needs the configured binding's preview_database_id.
            binding = self.config.d1(name_or_binding).previewed(self.config.path.name)
        if binding is not None and binding.database_id:
            known = RemoteDatabase(uuid=binding.database_id, name=binding.database_name)
            return RemoteD1Database(self.client, known)
        return RemoteD1Database(self.client, resolve(self.client, self.config, name_or_binding))
