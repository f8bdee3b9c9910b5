"""`d1 info`'s D1 limits: the size against the per-database cap, the largest row against 2 MB.

The checks are `worktime_cli.d1.limits.info_limits`; this module adds them to `d1 info`'s
result and renders them. Locally every row is read; remotely only with --largest-row, since
D1 bills each row the scan reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from worktime_cli.cli import output

if TYPE_CHECKING:
    from worktime_cli.cli.context import Context
    from worktime_cli.d1.limits import InfoLimits
    from worktime_cli.targets.d1 import DatabaseInfo

LargestRowOption = Annotated[
    bool,
    typer.Option(
        "--largest-row",
        help="With --remote, also find the largest row (reads every row: D1 bills them as rows "
        "read). Local databases are always checked.",
    ),
]


@dataclass(frozen=True)
class InfoReport:
    """`d1 info`: the database's info, and its limits under `limits`."""

    info: DatabaseInfo
    limits: InfoLimits

    def to_json(self) -> dict[str, Any]:
        return {**self.info.to_json(), "limits": self.limits.to_json()}


def with_limits(
    ctx: Context, database: str, found: DatabaseInfo, *, largest_row: bool
) -> InfoReport:
    """`found` with its limits; the rows are read locally, or remotely when `largest_row`."""
    from worktime_cli.d1.limits import info_limits

    scan = (largest_row or not ctx.remote) and found.exists is not False
    if scan and ctx.remote:
        output.info("reading every row for the largest one (D1 bills them as rows read)")
    query = ctx.d1().database(database).query if scan else None
    return InfoReport(found, info_limits(found.size, (lambda sql: query(sql)) if query else None))


def show(report: InfoReport, show_info: Callable[[DatabaseInfo], None], *, remote: bool) -> None:
    """`show_info`'s tables, then one of the limits (stdout); a limit near or over, on stderr."""
    show_info(report.info)
    limits = report.limits
    rows: list[list[object]] = []
    if limits.size is not None:
        rows.append(["database size", limits.size.message(), limits.size.level])
    if limits.largest_row is not None:
        rows.append(["row size", limits.largest_row.message(), limits.largest_row.level])
    if rows:
        output.print_table(["limit", "value", "level"], rows)
    for check in (limits.size, limits.largest_row):
        if check is not None and check.level != "ok":
            output.warn(check.message())
    if remote and not limits.checked:
        output.info("largest row not checked: --largest-row reads every row (billed as rows read)")
