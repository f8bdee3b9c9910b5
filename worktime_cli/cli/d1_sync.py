"""`worktime d1 diff`: two targets of one database (local, remote, each with its --env) compared.

The schema model and the pure diff live in `worktime_cli.schemadiff`; this module only picks
each side's query function through the context (local file or D1's `/query`: one seam) and
renders the differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, EnvOption, JsonOption, PersistOption
from worktime_cli.errors import UsageError

if TYPE_CHECKING:
    from worktime_cli.config import Config, D1Binding
    from worktime_cli.schemadiff import Schema, SchemaDiff

SIDES = ("local", "remote")

SideArg = Annotated[
    str,
    typer.Argument(
        metavar="SIDE",
        help="local or remote, optionally with its own environment: remote:production.",
        show_default=False,
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        "-d",
        help="The database's database_name or binding (default: the only one configured).",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Side:
    """One side of a diff: where (local/remote) and which environment."""

    place: str
    env: str | None

    @property
    def label(self) -> str:
        return self.place if self.env is None else f"{self.place} ({self.env})"


def parse_side(text: str, default_env: str | None) -> Side:
    """`local`, `remote`, `remote:production` (the part after `:` overrides --env)."""
    place, sep, env = text.partition(":")
    if place not in SIDES:
        raise UsageError(
            f"unknown side {text!r}", hint="give local or remote, e.g. remote:production"
        )
    if sep and not env:
        raise UsageError(f"{text!r} names no environment", hint="e.g. remote:production")
    return Side(place, env if sep else default_env)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)


def diff(
    a: SideArg,
    b: SideArg,
    database: DatabaseOption = None,
    env: EnvOption = None,
    config: ConfigOption = None,
    persist_to: PersistOption = None,
    json: JsonOption = False,
) -> None:
    """Compare two targets of a database: the migrations ledger, the migration files and the
    live schema. Exits 1 when they differ.

    A side is `local` or `remote`; --env applies to both, `remote:NAME` to one.

    Example:

        worktime d1 diff local remote --env production
        worktime d1 diff remote:staging remote:production --json
    """
    left, right = parse_side(a, env), parse_side(b, env)
    if left == right:
        raise UsageError(f"both sides are {left.label}", hint="compare two different targets")
    schema_a, files_a, name = _read(left, database, config, persist_to)
    schema_b, files_b, _ = _read(right, database, config, persist_to)
    from worktime_cli.schemadiff import compare

    result = compare(
        schema_a,
        schema_b,
        a_label=left.label,
        b_label=right.label,
        a_files=files_a,
        b_files=files_b,
    )
    output.render(result, json=json, human=lambda r: _show(r, name))
    if result.drift:
        raise typer.Exit(1)


def _read(
    side: Side, database: str | None, config: Path | None, persist_to: Path | None
) -> tuple[Schema, list[str], str]:
    from worktime_cli.cli.context import open_context
    from worktime_cli.migrations import files
    from worktime_cli.schemadiff import read_schema

    remote = side.place == "remote"
    with open_context(
        config=config,
        persist_to=None if remote else persist_to,
        remote=remote,
        env=side.env,
    ) as ctx:
        binding = _binding(ctx.config, database)
        target = ctx.d1().database(binding.database_name)
        schema = read_schema(lambda sql: target.query(sql), binding.migrations_table)
        found = files.discover(files.layout(ctx.config, binding), missing_ok=True)
        return schema, [f.name for f in found], binding.database_name


def _binding(cfg: Config, database: str | None) -> D1Binding:
    if database is not None:
        return cfg.d1(database)
    bindings = list(cfg.d1_databases)
    if len(bindings) != 1:
        raise UsageError(
            "name the database with --database"
            if bindings
            else "the config has no [[d1_databases]]",
        )
    return bindings[0]


def _show(result: SchemaDiff, database: str) -> None:
    if not result.drift:
        output.success(f"{database}: {result.a} and {result.b} agree")
        return
    rows = [[d.kind, d.object, d.detail, _cell(d.a), _cell(d.b)] for d in result.differences]
    output.print_table(["kind", "object", "difference", result.a, result.b], rows)
    output.info(f"{len(result.differences)} difference(s) between {result.a} and {result.b}")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)
