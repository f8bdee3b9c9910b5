"""Remote migrations, in exactly wrangler's protocol so both tools agree on one database.

wrangler: `CREATE TABLE IF NOT EXISTS "d1_migrations"(…)`, `SELECT * FROM "d1_migrations"
ORDER BY id`, then per migration ONE `/query` call whose sql is the file's text, a newline,
and `INSERT INTO "d1_migrations" (name) values ('<name>');`. D1 runs one call's statements
as one atomic batch, which is our transaction: D1 refuses BEGIN/COMMIT. Our own bookkeeping
(checksum, down SQL) rides in the same call, so it can never disagree with wrangler's table.
Values go in as SQL literals because D1 refuses bound params with several statements.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from worktime_cli.config import D1Binding
from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.remote import d1 as remote_d1
from worktime_cli.remote.client import Client

BOOKKEEPING_TABLE = "worktime_migrations"


class Discovered(Protocol):
    """What `worktime_cli.migrations.discover()` yields (only these two are used)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> Path: ...


@dataclass(frozen=True)
class Migration:
    name: str
    up_sql: str
    down_sql: str | None
    checksum: str


@dataclass(frozen=True)
class MigrationState:
    name: str
    status: str  # applied | pending | missing
    applied_at: str | None = None
    checksum_ok: bool | None = None  # None: unverified (applied by wrangler) or not applied

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "applied_at": self.applied_at,
            "checksum_ok": self.checksum_ok,
        }


@dataclass(frozen=True)
class Applied:
    name: str
    duration_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "duration_ms": self.duration_ms}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | int | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def normalised(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def checksum(text: str) -> str:
    return hashlib.sha256(normalised(text).encode("utf-8")).hexdigest()


def load(migrations_dir: Path) -> list[Migration]:
    """The migration files in wrangler's order, with their down files (`down/<same name>`)."""
    return [_migration(item) for item in _discover(migrations_dir)]


def _discover(migrations_dir: Path) -> Sequence[Discovered]:
    try:
        from worktime_cli.migrations import discover  # type: ignore[attr-defined,unused-ignore]  # the local engine, when present
    except ImportError:
        return _discover_like_wrangler(migrations_dir)
    found: Sequence[Discovered] = discover(migrations_dir)
    return found


@dataclass(frozen=True)
class _File:
    name: str
    path: Path


def _discover_like_wrangler(migrations_dir: Path) -> list[_File]:
    # Used only until the local engine lands: `*.sql` directly in the folder, dotfiles
    # skipped, sorted by the integer before the first `_`, numbered first, then by name.
    if not migrations_dir.is_dir():
        return []
    files = [
        p for p in migrations_dir.iterdir()
        if p.is_file() and p.suffix == ".sql" and not p.name.startswith(".")
    ]

    def order(p: Path) -> tuple[int, int, str]:
        head = p.name.split("_", 1)[0]
        return (0, int(head), p.name) if head.isdigit() else (1, 0, p.name)

    return [_File(p.stem, p) for p in sorted(files, key=order)]


def _migration(item: Discovered) -> Migration:
    up = _read(item.path)
    down_path = item.path.parent / "down" / item.path.name
    down = _read(down_path) if down_path.is_file() else None
    return Migration(name=item.name, up_sql=up, down_sql=down, checksum=checksum(up))


def _read(path: Path) -> str:
    try:
        return normalised(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorktimeError(f"cannot read {path}: {exc.strerror}") from None


def _ensure_tables(client: Client, database_id: str, table: str, bookkeeping: str) -> None:
    # wrangler's DDL byte for byte (modulo whitespace), then ours beside it.
    sql = (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)}(\n"
        "    id         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "    name       TEXT UNIQUE,\n"
        "    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n"
        ");\n"
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(bookkeeping)}(\n"
        "    name        TEXT PRIMARY KEY,\n"
        "    checksum    TEXT NOT NULL,\n"
        "    down_sql    TEXT,\n"
        "    duration_ms INTEGER\n"
        ");"
    )
    remote_d1.query(client, database_id, sql)


def _applied_rows(client: Client, database_id: str, table: str, bookkeeping: str) -> list[dict[str, Any]]:
    sql = (
        f"SELECT m.name AS name, m.applied_at AS applied_at, b.checksum AS checksum, b.down_sql AS down_sql "
        f"FROM {quote_identifier(table)} AS m LEFT JOIN {quote_identifier(bookkeeping)} AS b "
        "ON b.name = m.name ORDER BY m.id"
    )
    results = remote_d1.query(client, database_id, sql)
    return results[0].results if results else []


def status(
    client: Client,
    database_id: str,
    migrations: Sequence[Migration],
    *,
    table: str = "d1_migrations",
    bookkeeping: str = BOOKKEEPING_TABLE,
) -> list[MigrationState]:
    """Applied, pending and missing migrations, in order (creates the tables, as wrangler)."""
    _ensure_tables(client, database_id, table, bookkeeping)
    rows = _applied_rows(client, database_id, table, bookkeeping)
    by_name = {m.name: m for m in migrations}
    states: list[MigrationState] = []
    seen: set[str] = set()
    for row in rows:
        name = str(row.get("name"))
        seen.add(name)
        local = by_name.get(name)
        if local is None:
            states.append(MigrationState(name, "missing", row.get("applied_at")))
            continue
        recorded = row.get("checksum")
        states.append(
            MigrationState(
                name, "applied", row.get("applied_at"),
                None if recorded is None else recorded == local.checksum,
            )
        )
    states.extend(MigrationState(m.name, "pending") for m in migrations if m.name not in seen)
    return states


def apply(
    client: Client,
    database_id: str,
    migrations: Sequence[Migration],
    *,
    table: str = "d1_migrations",
    bookkeeping: str = BOOKKEEPING_TABLE,
    to: str | None = None,
    on_applied: Callable[[Applied], None] | None = None,
) -> list[Applied]:
    """Apply pending migrations in order, one atomic `/query` call each."""
    states = status(client, database_id, migrations, table=table, bookkeeping=bookkeeping)
    pending_names = [s.name for s in states if s.status == "pending"]
    if to is not None:
        if to not in {m.name for m in migrations}:
            raise WorktimeError(f"no migration named {to!r}")
        if to in pending_names:
            pending_names = pending_names[: pending_names.index(to) + 1]
        else:
            pending_names = []
    by_name = {m.name: m for m in migrations}
    done: list[Applied] = []
    for name in pending_names:
        migration = by_name[name]
        sql = (
            f"{migration.up_sql}\n"
            f"INSERT INTO {quote_identifier(table)} (name) values ({literal(name)});\n"
            f"INSERT OR REPLACE INTO {quote_identifier(bookkeeping)} (name, checksum, down_sql) "
            f"values ({literal(name)}, {literal(migration.checksum)}, {literal(migration.down_sql)});"
        )
        started = time.perf_counter()
        _run(client, database_id, name, sql)
        result = Applied(name, int((time.perf_counter() - started) * 1000))
        done.append(result)
        if on_applied is not None:
            on_applied(result)
    return done


def rollback(
    client: Client,
    database_id: str,
    migrations: Sequence[Migration],
    *,
    steps: int = 1,
    table: str = "d1_migrations",
    bookkeeping: str = BOOKKEEPING_TABLE,
    on_rolled_back: Callable[[Applied], None] | None = None,
) -> list[Applied]:
    """Roll back the newest `steps` migrations: down SQL + the DELETEs, one call each.

    Every down SQL is found before anything runs, so an irreversible migration stops the
    rollback before it changes anything.
    """
    _ensure_tables(client, database_id, table, bookkeeping)
    rows = _applied_rows(client, database_id, table, bookkeeping)
    chosen = list(reversed(rows))[:steps]
    by_name = {m.name: m for m in migrations}
    plan: list[tuple[str, str]] = []
    for row in chosen:
        name = str(row.get("name"))
        local = by_name.get(name)
        down = (local.down_sql if local is not None else None) or row.get("down_sql")
        if not down:
            raise WorktimeError(
                f"migration {name} has no down SQL: it cannot be rolled back",
                hint=f"add down/{name}.sql to the migrations folder",
            )
        plan.append((name, str(down)))
    done: list[Applied] = []
    for name, down in plan:
        sql = (
            f"{down}\n"
            f"DELETE FROM {quote_identifier(table)} WHERE name = {literal(name)};\n"
            f"DELETE FROM {quote_identifier(bookkeeping)} WHERE name = {literal(name)};"
        )
        started = time.perf_counter()
        _run(client, database_id, name, sql)
        result = Applied(name, int((time.perf_counter() - started) * 1000))
        done.append(result)
        if on_rolled_back is not None:
            on_rolled_back(result)
    return done


def _run(client: Client, database_id: str, name: str, sql: str) -> None:
    from worktime_cli.errors import RemoteError

    try:
        remote_d1.query(client, database_id, sql)
    except RemoteError as exc:
        raise SQLError(
            f"{name}: {exc.message}",
            hint="D1 ran this migration as one batch, so none of it was applied",
        ) from None


def for_binding(db: D1Binding, project_root: Path) -> tuple[Path, str]:
    """The migrations folder and tracking table configured for a database."""
    return project_root / db.migrations_dir, db.migrations_table
