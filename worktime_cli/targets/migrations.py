"""The migrations target: where one database's migrations are tracked and run.

The engine (`worktime_cli.migrations.engine`) plans from the files and `applied()`, then runs
each step through `run()`; a target only knows its storage. Local: the SQLite file under
`.wrangler/state` (`worktime_cli.migrations.LocalMigrations`); remote: the D1 database on
Cloudflare (`worktime_cli.remote.migrations.RemoteMigrations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from worktime_cli.d1.snapshots import Snapshot
    from worktime_cli.migrations.files import Layout
    from worktime_cli.migrations.plan import AppliedRow, Step
    from worktime_cli.migrations.schema import SchemaRow
    from worktime_cli.project.config import D1Binding


class MigrationsTarget(Protocol):
    """One database's migrations, local or remote."""

    @property
    def binding(self) -> D1Binding:
        """The configured database (name, migrations folder and table)."""
        ...

    @property
    def folder(self) -> Path:
        """The migrations folder (`migrations_dir`)."""
        ...

    @property
    def layout(self) -> Layout:
        """Which files are migrations (`migrations_pattern`) and where their down files are."""
        ...

    @property
    def label(self) -> str:
        """How questions and messages name the database, e.g. `the remote database x`."""
        ...

    @property
    def undo_note(self) -> str:
        """What a destructive confirmation says about undoing, e.g. `a snapshot is kept`."""
        ...

    def location(self) -> dict[str, Any]:
        """Where the database is, for `list --json` (local: path, exists; remote: database_id)."""
        ...

    def applied(self) -> list[AppliedRow]:
        """The tracking rows in the order they were applied (wrangler's `ORDER BY id`)."""
        ...

    def schema(self) -> list[SchemaRow]:
        """The live user schema (`schema.schema_of`'s rows); empty for a database not created yet."""
        ...

    def before_run(self, operation: str) -> Snapshot | None:
        """Called once before the first step changes anything: local takes a snapshot (None
        when there is no database file yet); remote records the D1 Time Travel
        bookmark (a `Bookmark` with the command back to it), then creates the tracking tables
        (as wrangler)."""
        ...

    def discard(self, snapshot: Snapshot | None) -> None:
        """Drop the snapshot of a run that changed nothing (it would restore nothing)."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Hold the target for one run (connections, write locks) and release it after."""
        ...

    def run_group(self, steps: Sequence[Step]) -> None:
        """Run every step with its tracking rows as ONE atomic unit: all or none (`--group`).
        Raises `UsageError` before anything when the group cannot be one unit (remote: over
        D1's limits for one request), `WorktimeError` when it failed (nothing changed)."""
        ...

    def run(self, step: Step) -> bool:
        """Run one step with its tracking rows, atomically; False when there was nothing to do
        (another run applied or rolled it back first). Raises `WorktimeError` on failure,
        naming `step.label`; a failed step changes nothing."""
        ...
