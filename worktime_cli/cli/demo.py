"""`worktime demo seed`: realistic, reproducible data for local development."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.admin_options import DatabaseArgument
from worktime_cli.cli.options import (
    JsonOption,
    Target,
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
    target: Target = Target(),
) -> None:
    """Seed a local database with realistic demo data.

    Users with several repos and PRs, sessions crossing midnight, active and abandoned ones,
    GitHub tokens (placeholders) with TTLs in KV, then a consistent daily_stats. A database
    that already has users is replaced after confirmation. With --remote the database must be
    empty, and the write is confirmed (--yes when not interactive).

    Example:

        worktime demo seed --users 20 --days 60 --seed 42 --yes
    """
    import datetime as dt

    from worktime_cli import clock
    from worktime_cli.admin import demo, inputs, schema
    from worktime_cli.cli.admin_options import open_admin
    from worktime_cli.cli.context import render

    last = inputs.parse_date(end, "--end")
    with open_admin(database, target) as admin:
        schema.require(admin.db, admin.database)
        # The target's place decides what needs confirming (and what is refused) in the core.
        plan = demo.plan_seed(admin.db, admin.place, admin.database)
        now = clock.now().replace(tzinfo=None)
        day = dt.date.fromisoformat(last) if last else now.date()
        data = demo.generate(users=users, days=days, seed=seed, end=day, now=now)
        with admin.tokens() as (where, namespace):
            # Both remote targets are named before the question and before any write.
            aimed = admin.aim()
            admin.aim_tokens(where, namespace)
            if plan.question is not None:
                output.confirm(plan.question, yes=yes, action=plan.action)
            result = demo.seed(admin.db, namespace, where, data, replace=bool(plan.existing))
    render(result, aimed, json=json, human=_show)


def _show(result: SeedResult) -> None:
    output.success(
        f"seeded {result.users} users, {result.sessions} sessions ({result.first_day} … "
        f"{result.last_day}), {result.tokens} tokens, {result.stats_rows} daily_stats rows"
    )
