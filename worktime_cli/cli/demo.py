"""`worktime demo seed`: realistic, reproducible data for local development."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import DatabaseArgument
from worktime_cli.cli.options import (
    ConfigOption,
    JsonOption,
    LocalOption,
    PersistOption,
    RemoteOption,
    YesOption,
)

if TYPE_CHECKING:
    from worktime_cli.admin.demo import SeedResult

app = typer.Typer(
    name="demo",
    help="Seed a local database with realistic demo data.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app)


@app.command("seed")
def seed(
    database: DatabaseArgument = None,
    users: Annotated[int, typer.Option("--users", help="How many users.", min=1, max=10_000)] = 20,
    days: Annotated[
        int, typer.Option("--days", help="How many days of history.", min=1, max=3660)
    ] = 60,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed, the same data.")
    ] = 42,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            help="Last day of history, YYYY-MM-DD (default: today, UTC).",
            show_default=False,
        ),
    ] = None,
    yes: YesOption = False,
    json: JsonOption = False,
    remote: RemoteOption = False,
    local: LocalOption = False,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
) -> None:
    """Seed a local database with realistic demo data.

    Users with several repos and PRs, sessions crossing midnight, active and abandoned ones,
    GitHub tokens (placeholders) with TTLs in KV, then a consistent daily_stats. A database
    that already has users is replaced after confirmation. --remote is refused unless --yes
    is given and the remote database is empty.

    Example:

        worktime demo seed --users 20 --days 60 --seed 42 --yes
    """
    import datetime as dt

    from worktime_cli.admin import demo, inputs, schema
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.errors import UsageError, WorktimeError

    last = inputs.parse_date(end, "--end")
    if remote and not yes:
        raise UsageError(
            "demo seed --remote writes demo rows to Cloudflare; refusing without --yes",
            hint="demo data is meant for local development; pass --yes to seed an empty remote database",
        )
    with open_admin(
        database, config=config, persist_to=persist_to, remote=remote, local=local
    ) as admin:
        schema.require(admin.db, admin.database)
        existing = demo.existing_users(admin.db)
        if existing and admin.ctx.remote:
            raise WorktimeError(
                f"the remote database {admin.database} has {existing} users; demo seed --remote "
                "only fills an empty database"
            )
        if existing:
            output.confirm(
                f"Replace the {existing} users of {admin.database} (and their sessions and stats) "
                "with demo data?",
                yes=yes,
                action="replace the database's users with demo data",
            )
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        day = dt.date.fromisoformat(last) if last else now.date()
        data = demo.generate(users=users, days=days, seed=seed, end=day, now=now)
        where, namespace = admin.tokens()
        result = demo.seed(admin.db, namespace, where, data, replace=bool(existing))
    output.render(result, json=json, human=_show)


def _show(result: SeedResult) -> None:
    output.success(
        f"seeded {result.users} users, {result.sessions} sessions ({result.first_day} … "
        f"{result.last_day}), {result.tokens} tokens, {result.stats_rows} daily_stats rows"
    )
