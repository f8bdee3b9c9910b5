"""Remote migrations, in exactly wrangler's protocol so both tools agree on one database.

wrangler: `CREATE TABLE IF NOT EXISTS "d1_migrations"(…)`, `SELECT * FROM "d1_migrations"
ORDER BY id`, then per migration ONE `/query` call whose sql is the file's text, a newline,
and `INSERT INTO "d1_migrations" (name) values ('<name>');`. D1 runs one call's statements
as one atomic batch, which is our transaction: D1 refuses BEGIN/COMMIT. Our own bookkeeping
(checksum, down SQL) rides in the same call, so it can never disagree with wrangler's table.
Values go in as SQL literals because D1 refuses bound params with several statements.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli.config import D1Binding
from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.remote import d1 as remote_d1
from worktime_cli.remote.client import Client


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
    out_of_order: bool = False  # pending, but sorts before the newest applied migration
    has_down: bool = False

    @property
    def state(self) -> str:
        """The local engine's vocabulary: applied | pending | drifted | missing | unverified."""
        if self.status == "applied" and self.checksum_ok is False:
            return "drifted"
        if self.status == "applied" and self.checksum_ok is None:
            return "unverified"
        return self.status

    def to_json(self) -> dict[str, Any]:
        # The same keys as the local `migrations list --json`, so scripts read both alike.
        return {
            "name": self.name,
            "status": self.state,
            "applied_at": self.applied_at,
            "out_of_order": self.out_of_order,
            "has_down": self.has_down,
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


def load(migrations_dir: Path) -> list[Migration]:
    """The migration files in wrangler's order (the local engine's discovery), with down SQL."""
    from worktime_cli import migrations as local

    migrations = []
    for item in local.discover(migrations_dir, missing_ok=True):
        up = item.path.read_bytes()
        down = local.read_sql(item.down_path) if item.has_down else None
        migrations.append(
            Migration(
                name=item.name,
                up_sql=local.read_sql(item.path),
                down_sql=down,
                checksum=local.checksum(up),
            )
        )
    return migrations


def _ensure_tables(client: Client, database_id: str, table: str, bookkeeping: str) -> None:
    # The local engine's DDL (wrangler's for the tracking table), so local and remote
    # databases have identical bookkeeping whichever tool created it.
    from worktime_cli import migrations as local

    sql = local.tracking_ddl(table) + "\n" + local.facts_ddl(bookkeeping) + ";"
    remote_d1.query(client, database_id, sql)


def _applied_rows(
    client: Client, database_id: str, table: str, bookkeeping: str
) -> list[dict[str, Any]]:
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
    bookkeeping: str = "d1_migrations_worktime",
) -> list[MigrationState]:
    """Applied, pending and missing migrations, in order (creates the tables, as wrangler)."""
    from worktime_cli.migrations import sort_key

    _ensure_tables(client, database_id, table, bookkeeping)
    rows = _applied_rows(client, database_id, table, bookkeeping)
    by_name = {m.name: m for m in migrations}
    states: list[MigrationState] = []
    seen: set[str] = set()
    for row in rows:
        name = str(row.get("name"))
        seen.add(name)
        local = by_name.get(name)
        has_down = bool(row.get("down_sql")) or (local is not None and local.down_sql is not None)
        if local is None:
            states.append(MigrationState(name, "missing", row.get("applied_at"), has_down=has_down))
            continue
        recorded = row.get("checksum")
        checksum_ok = None if recorded is None else recorded == local.checksum
        states.append(
            MigrationState(name, "applied", row.get("applied_at"), checksum_ok, has_down=has_down)
        )
    newest = max((sort_key(name) for name in seen), default=None)
    states.extend(
        MigrationState(
            m.name,
            "pending",
            out_of_order=newest is not None and sort_key(m.name) < newest,
            has_down=m.down_sql is not None,
        )
        for m in migrations
        if m.name not in seen
    )
    return states


def apply(
    client: Client,
    database_id: str,
    migrations: Sequence[Migration],
    *,
    table: str = "d1_migrations",
    bookkeeping: str = "d1_migrations_worktime",
    to: str | None = None,
    allow_drift: bool = False,
    allow_out_of_order: bool = False,
    on_applied: Callable[[Applied], None] | None = None,
) -> list[Applied]:
    """Apply pending migrations in order, one atomic `/query` call each.

    Stops before doing anything when an applied migration's file changed since it was
    applied, unless `allow_drift`, or when a pending file sorts before an applied one
    (usually a branch merge), unless `allow_out_of_order` — as the local engine.
    """
    states = status(client, database_id, migrations, table=table, bookkeeping=bookkeeping)
    drifted = [s.name for s in states if s.checksum_ok is False]
    if drifted and not allow_drift:
        raise WorktimeError(
            f"applied migration files changed since they were applied: {', '.join(drifted)}",
            hint="restore the files, or pass --allow-drift",
        )
    pending_names = [s.name for s in states if s.status == "pending"]
    if to is not None:
        names = {m.name for m in migrations}
        if to not in names and to + ".sql" in names:
            to += ".sql"  # the file name as typed without its extension, as the local engine
        if to not in names:
            raise WorktimeError(f"no migration named {to!r}")
        # A `to` that is already applied means nothing is left to do.
        pending_names = pending_names[: pending_names.index(to) + 1] if to in pending_names else []
    late = [s.name for s in states if s.out_of_order and s.name in pending_names]
    if late and not allow_out_of_order:
        raise WorktimeError(
            f"pending migration(s) sort before the newest applied one: {', '.join(late)}",
            hint="usually a branch merge; check they do not conflict, then pass --allow-out-of-order",
        )
    by_name = {m.name: m for m in migrations}
    done: list[Applied] = []
    for name in pending_names:
        migration = by_name[name]
        sql = (
            f"{_terminated(migration.up_sql)}\n"
            f"INSERT INTO {quote_identifier(table)} (name) values ({literal(name)});\n"
            # duration_ms is 0: the batch is one call, so its own duration is not known inside it.
            f"INSERT OR REPLACE INTO {quote_identifier(bookkeeping)} (name, checksum, down_sql, duration_ms) "
            f"values ({literal(name)}, {literal(migration.checksum)}, {literal(migration.down_sql)}, 0);"
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
    steps: int | None = 1,
    to: str | None = None,
    table: str = "d1_migrations",
    bookkeeping: str = "d1_migrations_worktime",
    on_rolled_back: Callable[[Applied], None] | None = None,
) -> list[Applied]:
    """Roll back the newest `steps` migrations (all when None), or every one applied after
    `to`: down SQL + the DELETEs, one call each.

    Every down SQL is found before anything runs, so an irreversible migration stops the
    rollback before it changes anything.
    """
    _ensure_tables(client, database_id, table, bookkeeping)
    rows = _applied_rows(client, database_id, table, bookkeeping)
    newest_first = list(reversed(rows))
    if to is not None:
        names = [str(row.get("name")) for row in newest_first]
        if to not in names and to + ".sql" in names:
            to += ".sql"
        if to not in names:
            raise WorktimeError(f"migration {to!r} is not applied to this database")
        chosen = newest_first[: names.index(to)]
    else:
        chosen = newest_first if steps is None else newest_first[:steps]
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
            f"{_terminated(down)}\n"
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


def tables(db: D1Binding) -> dict[str, str]:
    """`table=` and `bookkeeping=` for a configured database, as the local engine names them."""
    from worktime_cli import migrations as local

    return {"table": db.migrations_table, "bookkeeping": local.facts_table(db)}


def _terminated(sql: str) -> str:
    """`sql` ending in a complete statement, so the bookkeeping that follows parses.

    A migration file may leave off its final `;` (it applies fine on its own, and locally);
    glued to the INSERT after it, it would be a syntax error (wrangler has this bug).
    """
    import sqlite3

    return sql if not sql.strip() or sqlite3.complete_statement(sql) else sql + ";"
