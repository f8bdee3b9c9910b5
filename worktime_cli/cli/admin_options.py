"""Options and the opening step shared by the admin commands (stats, sessions, users, tokens,
report, demo): which database, which dates, which user, and the target from the CLI context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from worktime_cli.admin.targets import Database
    from worktime_cli.admin.tokens import Layout
    from worktime_cli.cli.context import Context
    from worktime_cli.cli.options import Target
    from worktime_cli.targets.kv import KVNamespace
    from worktime_cli.targets.remote_write import RemoteWrite

DatabaseArgument = Annotated[
    str | None,
    typer.Argument(
        help="Database name or binding (default: the DB binding, or the only database).",
        show_default=False,
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).", show_default=False),
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).", show_default=False)
]
UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Only this user (GitHub login).", show_default=False),
]
TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="Compute days in this IANA zone instead of UTC (e.g. Europe/Paris).",
        show_default=False,
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
]


@dataclass
class Admin:
    """The context of one admin command: its database, where it is, and the token namespace."""

    ctx: Context
    db: Database
    database: str
    place: str  # 'local' or 'remote', as the D1 target says (`D1Databases.place`)

    @property
    def named(self) -> str:
        """The database as prompts name it ("the remote database worktime-db")."""
        from worktime_cli.admin.targets import describe

        return describe(self.place, self.database)

    def aim(self) -> RemoteWrite | None:
        """Before a write to the database (and before asking): with --remote, name it on
        stderr and return it for --json, as every remote write does; locally None."""
        return self.ctx.aim_database(self.database)

    def aim_tokens(self, where: Layout, namespace: KVNamespace) -> RemoteWrite | None:
        """`aim` for a write to the GitHub-token namespace."""
        return self.ctx.aim("kv_namespace", where.binding, lambda: namespace.id)

    @contextmanager
    def tokens(self) -> Iterator[tuple[Layout, KVNamespace]]:
        """The GitHub-token layout and its namespace, closed when the block ends (a local
        namespace holds its SQLite index open)."""
        from worktime_cli.admin.tokens import layout

        where = layout(self.ctx.config)
        opened: KVNamespace = self.ctx.kv().namespace(where.binding)
        try:
            yield where, opened
        finally:
            opened.close()

    def pending_path(self) -> Path:
        from worktime_cli.project import state

        return state.root(self.ctx.config, self.ctx.persist_to) / "worktime" / "forget-pending.json"


def default_database(ctx: Context, name: str | None) -> str:
    if name is not None:
        return name
    databases = ctx.config.d1_databases
    for db in databases:
        if db.binding == "DB":
            return db.binding
    if len(databases) == 1:
        return databases[0].binding
    from worktime_cli.errors import ConfigError

    raise ConfigError(
        f"{ctx.config.path.name} has {len(databases)} D1 databases; name one",
        hint="pass the database name or binding as the first argument",
    )


@contextmanager
def open_admin(database: str | None, target: Target) -> Iterator[Admin]:
    """The command's context and database; `target.env` selects wrangler's `[env.NAME]` bindings."""
    from worktime_cli.cli.context import open_context
    from worktime_cli.errors import SQLError

    with open_context(target, local_only={"--persist-to": target.persist_to}) as ctx:
        name = default_database(ctx, database)
        databases = ctx.d1()
        db: Database = databases.database(name)
        from worktime_cli.admin import schema

        try:
            yield Admin(ctx=ctx, db=db, database=name, place=databases.place)
        except SQLError as exc:
            # "no such table: users" is better said as the table and migration missing.
            error = schema.explain_failure(db, exc, name)
            if isinstance(error, schema.SchemaError):
                error.hint = _schema_hint(ctx, name)
            raise error from None
        except schema.SchemaError as exc:
            exc.hint = _schema_hint(ctx, name)
            raise


def _schema_hint(ctx: Context, name: str) -> str:
    """The command that gives this database the backend's schema, as the user would type it."""
    from worktime_cli.admin.schema import MIGRATION
    from worktime_cli.migrations import files

    flags = (f" --env {ctx.env}" if ctx.env else "") + (" --remote" if ctx.remote else "")
    apply = f"`worktime d1 migrations apply {name}{flags}`"
    folder = files.migrations_dir(ctx.config, ctx.config.d1(name))
    if (folder / MIGRATION).is_file():
        return f"apply migration {MIGRATION}: {apply}"
    # No migration to apply yet: init writes the seed's schema and applies it (locally).
    return (
        f"{folder.name}/{MIGRATION} is missing: `worktime init` writes it and applies it locally"
        + (f", then {apply}" if ctx.remote else "")
    )


def user_id_of(admin: Admin, login: str | None) -> int | None:
    if login is None:
        return None  # no users import on the plain path (report start-up)
    from worktime_cli.admin import users

    return users.resolve(admin.db, login).id
