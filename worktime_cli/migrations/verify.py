"""Rollbacks verified before they are needed: every migration replayed in a scratch database.

For each migration, on an in-memory database holding what the migrations before it built
(schema S0): up → schema A (kept); then, inside a transaction that is always rolled back,
down → must equal S0, and up again → must equal A. So a down file (or the derived or
captured down SQL) is tested on the day it is written, not the day it is needed.

An up that fails is reported with every statement of it that fails (file:line, SQLite's
message), and `migrations verify` goes on: the up is replayed once more without its failing
statements, so the migrations after it are checked on what it does build (a broken down
two files later is found today, not after this one is fixed). Apply's check (`check`)
stops there instead, as the run will.

The scratch (`scratch.Scratch`) is a `d1.connect` database, so D1's rules apply; the replay
follows its schema through `schema_tracker.Tracker` and compares only the rows one of two
steps changed, as `schema.normalise` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from worktime_cli.errors import WorktimeError
from worktime_cli.migrations.downs import down_for, why_irreversible
from worktime_cli.migrations.files import Source
from worktime_cli.migrations.plan import AppliedRow
from worktime_cli.migrations.schema import SchemaRow, diff, normalise
from worktime_cli.migrations.schema_tracker import Delta, net
from worktime_cli.migrations.scratch import Scratch
from worktime_cli.sqlite.script import Statement

OK = "ok"
FAILED = "failed"
DIFFERS = "differs"
NONE = "none"
SKIPPED = "skipped"


@dataclass(frozen=True)
class VerifiedMigration:
    """One migration's replay.

    up: ok | failed | skipped (an earlier up failed: nothing to replay it on).
    down: ok | failed (the down SQL errors) | differs (it runs but does not restore the
    schema, or up fails or builds something else after it) | none (no down SQL) | skipped.
    down_source: file | captured | derived | none. diff: schema lines when down differs.
    """

    name: str
    up: str
    down: str
    down_source: str
    error: str | None = None
    diff: tuple[str, ...] = ()

    @property
    def broken_down(self) -> bool:
        return self.down in (FAILED, DIFFERS)

    @property
    def ok(self) -> bool:
        return self.up != FAILED and not self.broken_down

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "up": self.up,
            "down": self.down,
            "down_source": self.down_source,
            "error": self.error,
            "diff": list(self.diff),
        }


@dataclass(frozen=True)
class VerifyResult:
    """`migrations verify`: every migration replayed; `ok` when no up fails and no down is broken."""

    database: str
    migrations: tuple[VerifiedMigration, ...]

    @property
    def problems(self) -> list[VerifiedMigration]:
        return [m for m in self.migrations if not m.ok]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "ok": self.ok,
            "migrations": [m.to_json() for m in self.migrations],
            "problems": len(self.problems),
        }


def replay(
    sources: Sequence[Source],
    *,
    rows: Mapping[str, AppliedRow] | None = None,
    check: set[str] | None = None,
    migrations_table: str = "d1_migrations",
) -> list[VerifiedMigration]:
    """Replay `sources` in order; check the down SQL of those in `check` (default: all).

    A migration not in `check` is only applied (it is the ground the checked ones stand on);
    it is reported only if its up fails, which stops the replay. With `check`, a checked up
    that fails stops it too; without, the replay goes on past it (see the module docstring).
    """
    rows = rows or {}
    results: list[VerifiedMigration] = []
    with Scratch(migrations_table, track=True) as scratch:
        tracker = scratch.tracker
        assert tracker is not None
        failed = False
        ground: VerifiedMigration | None = None  # the last of an open run of unchecked ones
        for source in sources:
            checked = check is None or source.name in check
            row = rows.get(source.name)
            down = down_for(source, row)
            kind = NONE if down is None else down.source
            if failed:
                if checked:
                    results.append(VerifiedMigration(source.name, SKIPPED, SKIPPED, kind))
                continue
            label = str(source.file.path)
            if not checked:
                # Ground for the checked ones: one transaction for a run of them (a
                # BEGIN/COMMIT each is most of a small migration's cost); the replay stops
                # at a failing one anyway, so rolling them all back loses nothing.
                if ground is None:
                    tracker.pause()
                    scratch.begin()
                ground = VerifiedMigration(source.name, FAILED, SKIPPED, kind)
                try:
                    scratch.statements(source.statements, label)
                except WorktimeError as exc:
                    scratch.rollback()
                    ground, failed = None, True
                    results.append(
                        VerifiedMigration(source.name, FAILED, SKIPPED, kind, exc.message)
                    )
                continue
            if ground is not None:
                failure = _commit_ground(scratch, ground)
                ground = None
                tracker.resume()
                if failure is not None:
                    failed = True
                    results += [failure, VerifiedMigration(source.name, SKIPPED, SKIPPED, kind)]
                    continue
                tracker.refresh()
            error = scratch.run(source.statements, label)
            if error is not None:
                if check is not None:
                    failed = True  # apply: its run stops at this one too
                else:
                    # `run` took it back: again, past what fails, for the ones after it.
                    failures = scratch.run_past_failures(source.statements, label)
                    tracker.refresh()
                    error = "; ".join(dict.fromkeys([error, *failures]))
                results.append(VerifiedMigration(source.name, FAILED, SKIPPED, kind, error))
                continue
            up = tracker.refresh()
            if down is None:
                why = why_irreversible(source, row)
                results.append(VerifiedMigration(source.name, OK, NONE, NONE, why))
            else:
                results.append(_check_down(scratch, source, down.statements, down.label, kind, up))
        if ground is not None and (failure := _commit_ground(scratch, ground)) is not None:
            results.append(failure)
    return results


def _commit_ground(scratch: Scratch, last: VerifiedMigration) -> VerifiedMigration | None:
    """Commit a run of unchecked migrations; on failure, `last` (the one that ended it) with
    the error, as its own COMMIT would have failed."""
    try:
        scratch.commit()
    except WorktimeError as exc:
        scratch.rollback()
        return replace(last, error=exc.message)
    return None


def _check_down(
    scratch: Scratch,
    source: Source,
    down: Sequence[Statement],
    down_label: str,
    kind: str,
    up: Delta,
) -> VerifiedMigration:
    """Down, then up again, on the schema `up` built; kept when both restore what they must."""
    tracker = scratch.tracker
    assert tracker is not None
    name = source.name
    done: list[Delta] = []  # the steps to take back from the model if this is rolled back
    scratch.begin()
    try:
        try:
            scratch.statements(down, down_label)
        except WorktimeError as exc:
            return VerifiedMigration(name, OK, FAILED, kind, exc.message)
        undone = tracker.refresh()
        done.append(undone)
        before, restored = net(up, undone)
        if normalise(before) != normalise(restored):
            return VerifiedMigration(
                name,
                OK,
                DIFFERS,
                kind,
                f"{down_label}: does not restore the schema from before {name}",
                diff(before, restored),
            )
        try:
            scratch.statements(source.statements, str(source.file.path))
        except WorktimeError as exc:
            return VerifiedMigration(
                name, OK, DIFFERS, kind, f"up again after the down SQL fails: {exc.message}"
            )
        redone = tracker.refresh()
        done.append(redone)
        after, again = net(undone, redone)
        if normalise(after) != normalise(again):
            return VerifiedMigration(
                name,
                OK,
                DIFFERS,
                kind,
                "up again after the down SQL builds another schema",
                diff(after, again),
            )
        # Down then up again left exactly the schema after up: keep it. A rollback would
        # make SQLite re-read the whole schema, once per migration.
        scratch.commit()
        done.clear()
        return VerifiedMigration(name, OK, OK, kind)
    finally:
        # Also when SQLite already rolled back by itself (`INSERT OR ROLLBACK`, a trigger's
        # RAISE(ROLLBACK)): the steps it took back are taken back from the model too.
        scratch.rollback()
        for delta in reversed(done):
            tracker.undo(delta)


def built_schema(
    sources: Sequence[Source], migrations_table: str = "d1_migrations"
) -> list[SchemaRow] | str:
    """The schema `sources` build on an empty database, in order; the error text if one fails."""
    with Scratch(migrations_table) as scratch:
        for source in sources:
            error = scratch.run(source.statements, str(source.file.path))
            if error is not None:
                return error
        return scratch.rows()


def live_mismatch(
    live: Sequence[SchemaRow], sources: Sequence[Source], migrations_table: str = "d1_migrations"
) -> str | None:
    """None when `live` is the schema `sources` build; else a short description of how not."""
    built = built_schema(sources, migrations_table)
    if isinstance(built, str):
        return f"the applied files do not replay on an empty database: {built}"
    lines = diff(built, live)
    if not lines:
        return None
    shown = "; ".join(lines[:3]) + (f"; … {len(lines) - 3} more" if len(lines) > 3 else "")
    return f"- what the files build, + the live database: {shown}"
