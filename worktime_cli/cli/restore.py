"""`worktime d1 restore`: a local database back from a snapshot taken before a migrations apply
or rollback (or a reset), or the list of its snapshots."""

from __future__ import annotations

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

if TYPE_CHECKING:
    from worktime_cli.d1.snapshots import RestoreResult, SnapshotList


def restore(
    database: DatabaseArg,
    snapshot: Annotated[
        str | None, typer.Argument(help="Snapshot name (default: the newest).", show_default=False)
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the snapshots instead.")] = False,
    yes: YesOption = False,
    target: LocalTarget = Target(),
    json: JsonOption = False,
) -> None:
    """Restore a local database from the snapshot taken before a migrations apply or rollback.

    The current content is snapshotted first, so a restore can be undone too.

    Example:

        worktime d1 restore worktime-db --list
        worktime d1 restore worktime-db --yes
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.d1 import snapshots

    with open_context(target) as ctx:
        cfg = ctx.config
        db = cfg.d1(database)
        if list_:
            output.render(
                snapshots.snapshot_list(cfg, db, target.persist_to),
                json=json,
                human=_show_snapshots,
            )
            return
        chosen = snapshots.find(cfg, db, target.persist_to, snapshot)
        output.confirm(
            f"Replace the current content of {db.database_name} with snapshot {chosen.name} "
            f"(taken before a {chosen.operation})?",
            yes=yes,
            action=f"restore {db.database_name}",
        )
        result = snapshots.restore(cfg, db, target.persist_to, chosen)
    output.render(result, json=json, human=lambda r: _show_restored(r, db.database_name))


def _show_snapshots(found: SnapshotList) -> None:
    if not found.snapshots:
        output.info(f"no snapshots of {found.database}")
        return
    output.print_table(
        ["name", "time (UTC)", "operation", "size"],
        [
            [
                s.name,
                s.created.strftime("%Y-%m-%d %H:%M:%S"),
                s.operation,
                output.human_size(s.size),
            ]
            for s in found.snapshots
        ],
        justify={"size": "right"},
    )


def _show_restored(result: RestoreResult, database: str) -> None:
    output.success(f"restored {database} from {result.restored.name}")
    if result.previous is not None:
        output.info(f"the content before the restore is in snapshot {result.previous.name}")
