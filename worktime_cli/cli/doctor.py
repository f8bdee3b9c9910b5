"""`worktime doctor`: check a project against the setup plan's success criteria."""

from __future__ import annotations

from typing import Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import JsonOption, LocalTarget, Target

_MARKS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    target: LocalTarget = Target(),
    port: Annotated[int, typer.Option(help="Dev server port to check.", min=1, max=65535)] = 8787,
    json: JsonOption = False,
) -> None:
    """Check the project against the setup plan; exit 1 if a check fails.

    Checks: config, D1 files and schema, migrations, foreign keys, KV, secrets (names and
    sources only, never values) and whether a plain `wrangler dev` would see each one, git
    safety of .dev.vars, and the dev port.

    Example:

        worktime doctor --json
    """
    from worktime_cli.dev import doctor as core
    from worktime_cli.remote.schema_check import remote_schema_checks

    report = core.run(target.config, persist_to=target.persist_to, env=target.env, port=port)
    report = core.Report(
        (
            *report.checks,
            *remote_schema_checks(target.config, persist_to=target.persist_to, env=target.env),
        )
    )
    if json:
        output.print_json(report.to_json())
    else:
        output.print_table(
            ["", "check", "detail", "fix"],
            [[_MARKS[c.status], c.name, c.message, c.hint or ""] for c in report.checks],
        )
    # The verdict is talk (stderr) in both modes: a script reading --json still sees why the
    # exit code is 1.
    failed = sum(c.status == "fail" for c in report.checks)
    warned = sum(c.status == "warn" for c in report.checks)
    if failed:
        output.error(f"{failed} check(s) failed")
    elif warned:
        # Not "all checks passed": a warning (e.g. a secret plain `wrangler dev` cannot
        # see) is exactly what a user must not miss.
        output.warn(f"{warned} warning{'s' if warned > 1 else ''}, no check failed")
    else:
        output.success("all checks passed")
    if not report.ok:
        raise typer.Exit(1)
