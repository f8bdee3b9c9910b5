"""The remote migrations target: one D1 database on Cloudflare, in exactly wrangler's protocol.

It only knows how to read the tracking rows and send one step; planning, refusals and the
run loop are the engine's (`worktime_cli.migrations.engine`), shared with the local target.

wrangler: `CREATE TABLE IF NOT EXISTS "d1_migrations"(…)`, `SELECT * FROM "d1_migrations"
ORDER BY id`, then per migration ONE `/query` call whose sql is the file's text, a newline,
and `INSERT INTO "d1_migrations" (name) values ('<name>');`. D1 runs one call's statements
as one atomic batch, which is our transaction: D1 refuses BEGIN/COMMIT. Our own bookkeeping
(checksum, down SQL) rides in the same call, so it can never disagree with wrangler's table.
Values go in as SQL literals because D1 refuses bound params with several statements.
"""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli import clock
from worktime_cli.d1.snapshots import Snapshot
from worktime_cli.errors import RemoteError, SQLError, UsageError
from worktime_cli.migrations import files, local
from worktime_cli.migrations.plan import AppliedRow, Step
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.remote import d1 as remote_d1

if TYPE_CHECKING:
    from worktime_cli.migrations.schema import SchemaRow
    from worktime_cli.remote.client import Client


@dataclass(frozen=True)
class Bookmark(Snapshot):
    """A remote run's restore point, where the engine keeps a local run's snapshot.

    `name` (and `path`, which `--json` prints as `snapshot`) is the Time Travel bookmark;
    `command` is the exact command back to it.
    """

    command: str = ""


# One `--group` request, under D1's published limits (developers.cloudflare.com/d1/platform/
# limits): each statement stays under 100,000 bytes (checked when the files are read); a
# batch of at most 1,000 queries (D1's queries per invocation, Workers Paid); and a body far
# below Cloudflare's 100 MB request limit, so one request never runs into the 30 s query cap.
GROUP_MAX_STATEMENTS = 1_000
GROUP_MAX_BYTES = 10_000_000


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | int | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _terminated(sql: str) -> str:
    """`sql` ending in a complete statement, so the bookkeeping that follows parses.

    A migration file may leave off its final `;` (it applies fine on its own, and locally);
    glued to the INSERT after it, it would be a syntax error (wrangler has this bug).
    """
    return sql if not sql.strip() or sqlite3.complete_statement(sql) else sql + ";"


def step_sql(step: Step, table: str, bookkeeping: str) -> str:
    """The one `/query` body of a step: its SQL and its tracking rows, one atomic batch."""
    name = literal(step.name)
    if step.kind == "apply":
        return (
            f"{_terminated(step.sql)}\n"
            f"INSERT INTO {quote_identifier(table)} (name) values ({name});\n"
            # duration_ms is 0: the batch is one call, so its own duration is not known inside it.
            f"INSERT OR REPLACE INTO {quote_identifier(bookkeeping)} "
            f"(name, checksum, down_sql, duration_ms, {local.SEAL_COLUMN}) values ({name}, "
            f"{literal(step.checksum)}, {literal(step.down_sql)}, 0, {literal(step.down_checksum)});"
        )
    return (
        f"{_terminated(step.sql)}\n"
        f"DELETE FROM {quote_identifier(table)} WHERE name = {name};\n"
        f"DELETE FROM {quote_identifier(bookkeeping)} WHERE name = {name};"
    )


class RemoteMigrations:
    """The migrations of one configured database's D1 database on Cloudflare."""

    def __init__(
        self, client: Client, config: Config, database: str | D1Binding, *, preview: bool = False
    ) -> None:
        self.client = client
        self.config = config
        self._binding = database if isinstance(database, D1Binding) else config.d1(database)
        self._folder = files.migrations_dir(config, self._binding)
        self._database_id: str | None = None
        if preview:  # wrangler's --preview: the preview_database_id, used as is
            self._binding = self._binding.previewed(config.path.name)
            self._database_id = self._binding.database_id
        self._tables_ready = False
        self._bookmark: Bookmark | None = None

    @property
    def binding(self) -> D1Binding:
        return self._binding

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def layout(self) -> files.Layout:
        return files.layout(self.config, self._binding)

    @property
    def label(self) -> str:
        return f"the remote database {self._binding.database_name}"

    @property
    def undo_note(self) -> str:
        """Shown in the confirmation, before anything changes: the command back to now."""
        return f"to undo: `{self._restore_point().command}`"

    def _restore_point(self) -> Bookmark:
        """The database's Time Travel bookmark now, read once per run (cached)."""
        if self._bookmark is None:
            self._bookmark = self._read_bookmark()
        return self._bookmark

    def _read_bookmark(self) -> Bookmark:
        from worktime_cli.remote import time_travel

        now = clock.now()
        name = self._binding.database_name
        # The way back names the env that resolved the database, or it would aim at another.
        env = self.config.env
        env_flag = "" if env is None else f" --env {shlex.quote(env)}"
        try:
            mark = time_travel.bookmark(self.client, self.database_id)
        except RemoteError:
            # Time Travel unavailable (wrangler: alpha databases have none) or the API failed:
            # the run still goes ahead, and the way back is the time it started.
            stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
            command = f"worktime d1 time-travel restore {name} --timestamp {stamp}{env_flag}"
            return Bookmark(stamp, Path(stamp), now, "", 0, command)
        command = time_travel.restore_command(name, mark, env)
        return Bookmark(mark, Path(mark), now, "", 0, command)

    @property
    def database_id(self) -> str:
        if self._database_id is None:
            found = remote_d1.resolve(self.client, self.config, self._binding.database_name)
            self._database_id = found.uuid
        return self._database_id

    @property
    def _bookkeeping(self) -> str:
        return local.facts_table(self._binding)

    def location(self) -> dict[str, Any]:
        return {"database_id": self.database_id, "remote": True}

    def ensure_tables(self) -> None:
        """wrangler's tracking table and our facts table, with the local engine's DDL, so
        local and remote databases have identical bookkeeping whichever tool made them.

        A facts table an older worktime made gets the seal column here (one more request,
        once): reads need it too, and it is nullable, so older versions keep working.
        """
        if self._tables_ready:
            return
        table = self._binding.migrations_table
        sql = (
            local.tracking_ddl(table)
            + "\n"
            + local.facts_ddl(self._bookkeeping)
            + ";\nSELECT count(*) AS n FROM pragma_table_info("
            + literal(self._bookkeeping)
            + f") WHERE name = {literal(local.SEAL_COLUMN)};"
        )
        results = remote_d1.query(self.client, self.database_id, sql)
        found = results[-1].results if results else []
        if not found or not found[0].get("n"):
            remote_d1.query(self.client, self.database_id, local.add_seal_column(self._bookkeeping))
        self._tables_ready = True

    def applied(self) -> list[AppliedRow]:
        """The tracking rows, oldest first. Like wrangler's `list`, this creates the empty
        tracking tables on a database that has none (a SELECT on a missing table fails)."""
        self.ensure_tables()
        sql = (
            "SELECT m.name AS name, m.applied_at AS applied_at, b.checksum AS checksum, "
            f"b.down_sql AS down_sql, b.{local.SEAL_COLUMN} AS {local.SEAL_COLUMN} "
            f"FROM {quote_identifier(self._binding.migrations_table)} AS m "
            f"LEFT JOIN {quote_identifier(self._bookkeeping)} AS b "
            "ON b.name = m.name ORDER BY m.id"
        )
        results = remote_d1.query(self.client, self.database_id, sql)
        rows = results[0].results if results else []
        return [
            AppliedRow(
                index,
                str(row.get("name")),
                row.get("applied_at"),
                row.get("checksum"),
                row.get("down_sql"),
                down_checksum=row.get(local.SEAL_COLUMN),
            )
            for index, row in enumerate(rows, start=1)
        ]

    def schema(self) -> list[SchemaRow]:
        """The live schema from D1's `sqlite_master`, filtered as the local one."""
        from worktime_cli.migrations.schema import filter_rows

        results = remote_d1.query(
            self.client,
            self.database_id,
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL",
        )
        rows = results[0].results if results else []
        return filter_rows(
            ((r.get("type"), r.get("name"), r.get("tbl_name"), r.get("sql")) for r in rows),
            self._binding.migrations_table,
        )

    def before_run(self, operation: str) -> Snapshot | None:
        """The restore point: D1's Time Travel bookmark, read just before the first change.

        Read afresh (not the confirmation's), so a write between the question and the run is
        not lost by going back. Read before the tracking tables are made (when planning has
        not made them already), so going back undoes those too.
        """
        self._bookmark = None
        point = self._restore_point()
        self.ensure_tables()
        return replace(point, operation=operation)

    def discard(self, snapshot: Snapshot | None) -> None:
        return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        # D1 has no lock to take: each step is one atomic batch, and the UNIQUE name in the
        # tracking table makes a second run's INSERT of the same migration fail the batch.
        yield

    def run_group(self, steps: Sequence[Step]) -> None:
        """Every step and its tracking rows in ONE `/query` call: D1 runs it as one atomic
        batch, so all apply or none. Refused before sending when it exceeds `GROUP_LIMITS`."""
        table = self._binding.migrations_table
        sql = "\n".join(step_sql(step, table, self._bookkeeping) for step in steps)
        statements = sum(len(step.statements) for step in steps) + 2 * len(steps)
        size = len(sql.encode("utf-8"))
        too_big = [
            f"{what} ({value:,} > {limit:,})"
            for what, value, limit in (
                ("statements", statements, GROUP_MAX_STATEMENTS),
                ("bytes", size, GROUP_MAX_BYTES),
            )
            if value > limit
        ]
        if too_big:
            raise UsageError(
                f"--group: {len(steps)} migration(s) do not fit in one D1 request: "
                f"{', '.join(too_big)}; nothing sent",
                hint="run without --group (each migration atomic on its own), or in parts with --to",
            )
        try:
            remote_d1.query(self.client, self.database_id, sql)
        except RemoteError as exc:
            raise SQLError(
                f"the group failed: {exc.message}",
                hint="D1 ran the group as one batch, so none of it was applied",
            ) from None

    def run(self, step: Step) -> bool:
        self.ensure_tables()  # `mark-applied` writes without reading first
        sql = step_sql(step, self._binding.migrations_table, self._bookkeeping)
        try:
            remote_d1.query(self.client, self.database_id, sql)
        except RemoteError as exc:
            raise SQLError(
                f"{step.label}: {exc.message}",
                hint="D1 ran this step as one batch, so none of it was applied",
            ) from None
        return True
