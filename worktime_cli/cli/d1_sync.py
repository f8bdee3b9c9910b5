"""`worktime d1 diff` (two targets of one database compared) and `worktime d1 pull` (the remote
database copied into the local file, masked on the way with --sanitize).

The schema model and the pure diff live in `worktime_cli.d1.schemadiff`; `diff` only picks each
side's query function through the context (local file or D1's `/query`: one seam) and renders
the differences. `pull` asks D1 for a dump (`remote.d1.export_url`), streams it as text
(`remote.d1.download_text`: never written to a file) into `pull.pull_into_local`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import (
    DatabaseArg,
    JsonOption,
    LocalTarget,
    Target,
    YesOption,
)
from worktime_cli.errors import UsageError

if TYPE_CHECKING:
    from worktime_cli.d1.pull import PullResult
    from worktime_cli.d1.schemadiff import Schema, SchemaDiff
    from worktime_cli.project.config import Config, D1Binding

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
    app.command("pull")(pull)


def diff(
    a: SideArg,
    b: SideArg,
    database: DatabaseOption = None,
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Compare two targets of a database: the migrations ledger, the migration files and the
    live schema. Exits 1 when they differ.

    A side is `local` or `remote`; --env applies to both, `remote:NAME` to one.

    Example:

        worktime d1 diff local remote --env production
        worktime d1 diff remote:staging remote:production --json
    """
    left, right = parse_side(a, target.env), parse_side(b, target.env)
    if left == right:
        raise UsageError(f"both sides are {left.label}", hint="compare two different targets")
    schema_a, files_a, name = _read(left, database, target)
    schema_b, files_b, _ = _read(right, database, target)
    from worktime_cli.d1.schemadiff import compare

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


def _read(side: Side, database: str | None, target: Target) -> tuple[Schema, list[str], str]:
    from worktime_cli.cli.context import open_context
    from worktime_cli.d1.schemadiff import read_schema
    from worktime_cli.migrations import files

    remote = side.place == "remote"
    persist_to = None if remote else target.persist_to
    with open_context(replace(target, remote=remote, env=side.env, persist_to=persist_to)) as ctx:
        binding = _binding(ctx.config, database)
        db = ctx.d1().database(binding.database_name)
        schema = read_schema(lambda sql: db.query(sql), binding.migrations_table)
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


def pull(
    database: DatabaseArg,
    sanitize: Annotated[
        bool,
        typer.Option(
            "--sanitize",
            help="Mask personal data while copying (the default rules: users.email, "
            "users.github_username, users.avatar_url); nothing unmasked touches the disk.",
        ),
    ] = False,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="The sanitize rules file (TOML, see docs/sanitize.md); implies --sanitize.",
            show_default=False,
            dir_okay=False,
            exists=True,
        ),
    ] = None,
    yes: YesOption = False,
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Copy a remote database into its local file, replacing the local data (snapshot first).

    Through D1's export API (a dump, downloaded from a signed URL); `worktime d1 restore`
    brings the local data back from the snapshot. With --sanitize (or --rules FILE) the dump
    is masked in memory before anything is written.

    Example:

        worktime d1 pull worktime-db --env production --sanitize
        worktime d1 pull DB --rules sanitize.toml --yes
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.d1.pull import pull_into_local
    from worktime_cli.d1.sanitize import load_rules
    from worktime_cli.remote.d1 import RemoteD1Database, download_text, export_url

    masking = load_rules(rules) if sanitize or rules is not None else None
    with open_context(replace(target, remote=True)) as ctx:
        binding = ctx.config.d1(database)
        remote = ctx.d1().database(database)
        assert isinstance(remote, RemoteD1Database)
        how = "sanitized " if masking is not None else ""
        output.confirm(
            f"Replace the local data of {binding.database_name} with a {how}copy of the "
            f"remote database {remote.name}? (a snapshot is taken first)",
            yes=yes,
            action="replace the local database",
        )
        output.info(f"exporting {remote.name} from Cloudflare …")
        url = export_url(ctx.client, remote.database_id)
        with output.progress(f"pulling {remote.name}", unit="bytes") as bar:
            chunks = download_text(ctx.client, url, on_progress=bar.update)
            result = pull_into_local(ctx.config, binding, target.persist_to, chunks, rules=masking)
    output.render(result, json=json, human=_show_pulled)


def _show_pulled(result: PullResult) -> None:
    if result.sanitized is not None:
        masked = ", ".join(
            f"{m.table}.{m.column} ({m.rule}, {m.rows} rows)" for m in result.sanitized.masked
        )
        output.info(f"sanitized ({result.sanitized.rules} rules): {masked or 'nothing matched'}")
        for key in result.sanitized.unmatched:
            output.warn(f"sanitize rule {key} matched no column")
    if result.snapshot is not None:
        output.info(f"snapshot of the local data before: {result.snapshot.path}")
    output.success(f"pulled {result.database} into {result.path}")
