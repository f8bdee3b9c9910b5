"""`migrations apply --rehearse / --rehearse-only` and apply's rewrite warnings (issue 24).

A rehearsal exports the remote database through D1's export API, loads the dump into memory
and masks it there (`sanitize.sanitize_dump`, the default rules), writes that sanitized copy
to a temporary file, and rehearses the pending migrations on it (`rehearsal.rehearse`). Only
a clean rehearsal lets the real remote apply go on.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Collection

    from worktime_cli.cli.context import Context
    from worktime_cli.migrations.plan import RunPlan
    from worktime_cli.migrations.rehearsal import Rehearsal

RehearseOption = Annotated[
    bool,
    typer.Option(
        "--rehearse",
        help="With --remote: first rehearse on a sanitized copy of the remote database; only a "
        "clean rehearsal proceeds.",
    ),
]
RehearseOnlyOption = Annotated[
    bool,
    typer.Option(
        "--rehearse-only",
        help="With --remote: rehearse and stop (exit 0 if clean, 1 if not); nothing is applied.",
    ),
]


def warn_rewrites(ctx: Context, database: str, planned: RunPlan) -> None:
    """Warn (stderr) about pending statements that rewrite a table big enough to likely pass
    D1's 30 s query limit. Rows are counted only for the tables such statements touch."""
    if not planned.steps:
        return
    from worktime_cli.d1 import limits as d1limits
    from worktime_cli.d1.limits import BATCHING_ADVICE, rewrite_warnings, user_tables

    # Which tables could be rewritten is read from the SQL alone (every name in it taken as
    # huge), so the database is only asked (and, locally, opened) when one could be.
    names = {
        next(part for part in match if part)
        for s in planned.steps
        for match in _NAMES.findall(s.sql)
    }
    huge = dict.fromkeys(names, 1 << 62)
    touched = {
        w.table.lower() for s in planned.steps for w in rewrite_warnings(s.name, s.statements, huge)
    }
    if not touched:
        return
    from worktime_cli.errors import WorktimeError

    try:
        info = ctx.d1().info(database)
    except WorktimeError:
        return  # a local database with no file yet: every table is empty (and stays unopened)
    if info.exists is False:
        return
    if info.tables is not None:
        counts = {t.name: t.rows for t in info.tables if t.name.lower() in touched}
    else:
        db = ctx.d1().database(database)
        counts = {
            t: int(db.query(f"SELECT count(*) AS n FROM {_quote(t)}")[0]["n"])
            for t in user_tables(lambda sql: db.query(sql))
            if t.lower() in touched
        }
    speed = d1limits.REWRITE_ROWS_PER_SECOND  # read now: a test can lower it
    found = [
        w
        for s in planned.steps
        for w in rewrite_warnings(s.name, s.statements, counts, rows_per_second=speed)
    ]
    for warning in found:
        output.warn(warning.message())
    if found:
        output.info(f"advice: {BATCHING_ADVICE}")


_NAMES = re.compile(r'"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][A-Za-z0-9_$]*)')


def _quote(name: str) -> str:
    from worktime_cli.sqlite.script import quote_identifier

    return quote_identifier(name)


def rehearse_first(
    ctx: Context,
    database: str,
    *,
    only: bool,
    json: bool,
    to: str | None,
    allow: Collection[str],
    allow_broken_down: bool,
    allow_drift: bool,
    allow_out_of_order: bool,
) -> Rehearsal:
    """Rehearse on a sanitized copy of the remote database and show it; exit unless it is
    clean and the apply should go on (--rehearse-only exits 0 when clean, 1 when not)."""
    if not ctx.remote:
        raise UsageError("--rehearse and --rehearse-only need --remote")
    import tempfile
    from pathlib import Path

    from worktime_cli.d1.sanitize import load_rules, sanitize_dump
    from worktime_cli.migrations.rehearsal import rehearse
    from worktime_cli.remote.d1 import RemoteD1Database, download_text, export_url

    remote = ctx.d1().database(database)
    assert isinstance(remote, RemoteD1Database)
    binding = ctx.config.d1(database)
    output.info(f"rehearsal: exporting {remote.name} from Cloudflare …")
    url = export_url(ctx.client, remote.database_id)
    with tempfile.TemporaryDirectory(prefix="worktime-rehearse-") as folder:
        copy = Path(folder) / "production.sqlite"
        # The dump is masked in memory; only the sanitized copy is written.
        sanitize_dump(download_text(ctx.client, url), copy, load_rules(None))
        result = rehearse(
            ctx.config,
            binding,
            copy,
            to=to,
            allow=allow,
            allow_broken_down=allow_broken_down,
            allow_drift=allow_drift,
            allow_out_of_order=allow_out_of_order,
            copy=False,
        )
    if not json:
        show(result)
    if only or not result.clean:
        if json:
            output.print_json({"rehearsal": result.to_json(), "applied": 0})
        if not result.clean:
            output.warn("the rehearsal is not clean: nothing was applied to the remote database")
        raise typer.Exit(0 if result.clean else 1)
    output.success("the rehearsal is clean: applying to the remote database")
    return result


def show(result: Rehearsal) -> None:
    """The per-migration report: time, rows per table before/after, findings (stdout)."""
    rows: list[list[Any]] = []
    for m in result.migrations:
        changed = [r for r in m.rows if r.before != r.after]
        rows_text = ", ".join(f"{r.table} {r.before}→{r.after}" for r in changed) or "unchanged"
        time = "-" if m.duration_ms is None else f"{m.duration_ms:.1f} ms"
        findings = "; ".join(f"{f.kind}: {f.message}" for f in m.findings) or "-"
        rows.append([m.name, m.status, time, rows_text, findings])
    if rows:
        output.print_table(["migration", "status", "time", "rows", "findings"], rows)
    for finding in result.findings:
        output.warn(f"{finding.kind}: {finding.message}")
    for warning in result.to_json()["warnings"]:
        output.warn(str(warning))
    limits = [x for x in (result.size, result.largest_row) if x is not None]
    for check in limits:
        output.info(f"D1 limit: {check.message()}")
    verdict = "clean" if result.clean else f"{len(result.all_findings)} finding(s)"
    output.info(f"rehearsal of {len(result.migrations)} migration(s): {verdict}")
