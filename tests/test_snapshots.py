"""Snapshots: taken with the backup API (WAL content included), pruned to 10 once kept,
restorable whatever the ring holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.migrations import Project, make_project
from worktime_cli import d1
from worktime_cli.d1 import snapshots
from worktime_cli.errors import NotFoundError


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    conn = d1.connect(p.path, create=True)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES ('one')")
    conn.close()
    return p


def test_no_database_no_snapshot(project: Path) -> None:
    p = make_project(project)
    assert snapshots.take(p.cfg, p.db, None, "apply") is None
    assert snapshots.list_snapshots(p.cfg, p.db, None) == []


def test_snapshot_includes_uncheckpointed_wal(proj: Project) -> None:
    writer = d1.connect(proj.path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO t VALUES ('only in the wal')")
    wal = proj.path.with_name(proj.path.name + "-wal")
    assert wal.stat().st_size > 0
    snap = snapshots.take(proj.cfg, proj.db, None, "apply")
    writer.close()
    assert snap is not None
    assert snap.path.parent == proj.root / ".wrangler/state/v3/d1/snapshots/worktime-db"
    assert snap.name.endswith("-apply.sqlite") and snap.operation == "apply"
    assert not snap.path.with_name(snap.name + "-wal").exists()  # one self-contained file
    conn = sqlite3.connect(snap.path)
    assert conn.execute("SELECT v FROM t ORDER BY rowid").fetchall() == [
        ("one",),
        ("only in the wal",),
    ]
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_keeps_newest_ten(proj: Project) -> None:
    taken = []
    for _ in range(12):
        snap = snapshots.take(proj.cfg, proj.db, None, "apply")
        assert snap is not None
        snapshots.settle(snap)  # the snapshot stays: only now is the oldest dropped
        taken.append(snap)
    listed = snapshots.list_snapshots(proj.cfg, proj.db, None)
    assert [s.name for s in listed] == [s.name for s in reversed(taken[2:]) if s is not None]
    assert len(listed) == 10


def test_restore_newest_and_named(proj: Project) -> None:
    first = snapshots.take(proj.cfg, proj.db, None, "apply")
    d1.execute_command(proj.path, "INSERT INTO t VALUES ('two')")
    second = snapshots.take(proj.cfg, proj.db, None, "rollback")
    d1.execute_command(proj.path, "DROP TABLE t; CREATE TABLE other (x)")
    assert first is not None and second is not None

    newest = snapshots.find(proj.cfg, proj.db, None)
    assert newest == second
    result = snapshots.restore(proj.cfg, proj.db, None, newest)
    assert proj.query("SELECT v FROM t ORDER BY rowid") == [("one",), ("two",)]
    assert proj.query("SELECT name FROM sqlite_master WHERE name = 'other'") == []
    # The state before the restore was kept, and "newest" still means the newest apply/rollback.
    assert result.previous is not None and result.previous.operation == "restore"
    assert snapshots.find(proj.cfg, proj.db, None) == second

    named = snapshots.find(proj.cfg, proj.db, None, first.name.removesuffix(".sqlite"))
    snapshots.restore(proj.cfg, proj.db, None, named)
    assert proj.query("SELECT v FROM t") == [("one",)]
    conn = d1.connect(proj.path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()


def test_find_errors(proj: Project) -> None:
    with pytest.raises(NotFoundError, match="has no snapshots"):
        snapshots.find(proj.cfg, proj.db, None)
    snapshots.take(proj.cfg, proj.db, None, "apply")
    with pytest.raises(NotFoundError, match="no snapshot 'nope'"):
        snapshots.find(proj.cfg, proj.db, None, "nope")


def test_temp_files_are_not_snapshots(proj: Project) -> None:
    folder = snapshots.folder(proj.cfg, proj.db, None)
    folder.mkdir(parents=True)
    (folder / ".20240101T000000.000000Z-apply.sqlite.tmp").write_bytes(b"half")
    (folder / "notes.txt").write_text("x")
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []


def test_discard_and_list_result(proj: Project) -> None:
    kept = snapshots.take(proj.cfg, proj.db, None, "apply")
    dropped = snapshots.take(proj.cfg, proj.db, None, "rollback")
    assert kept is not None and dropped is not None
    snapshots.discard(dropped)
    assert not dropped.path.exists()
    listed = snapshots.snapshot_list(proj.cfg, proj.db, None)
    assert listed.database == "worktime-db"
    assert listed.to_json() == [kept.to_json()]
    snapshots.discard(dropped)  # already gone: not an error


# --- the ring never eats what it is asked to restore (issue 19, part 1) ------------------------


def _fill_ring(proj: Project) -> list[snapshots.Snapshot]:
    """KEEP snapshots, the i-th holding rows 'one' and 'v0'..'v<i>'; oldest first."""
    taken = []
    for i in range(snapshots.KEEP):
        d1.execute_command(proj.path, f"INSERT INTO t VALUES ('v{i}')")
        snap = snapshots.take(proj.cfg, proj.db, None, "apply")
        assert snap is not None
        snapshots.settle(snap)
        taken.append(snap)
    assert len(snapshots.list_snapshots(proj.cfg, proj.db, None)) == snapshots.KEEP
    return taken


def _names(proj: Project) -> list[str]:
    return [s.name for s in snapshots.list_snapshots(proj.cfg, proj.db, None)]


def test_restore_of_the_oldest_with_the_ring_full(cli, proj: Project) -> None:
    oldest, *rest = _fill_ring(proj)
    result = cli("d1", "restore", "worktime-db", oldest.name, "--yes")
    assert result.exit_code == 0, result.output
    assert proj.query("SELECT v FROM t ORDER BY rowid") == [("one",), ("v0",)]
    # The restore's own snapshot displaced the oldest one (the one now live), nothing else.
    names = _names(proj)
    assert len(names) == snapshots.KEEP
    assert names[1:] == [s.name for s in reversed(rest)]
    assert names[0].endswith("-restore.sqlite")


def test_restore_of_every_listed_snapshot_with_the_ring_full(cli, proj: Project) -> None:
    _fill_ring(proj)
    for position in range(snapshots.KEEP):
        snap = snapshots.list_snapshots(proj.cfg, proj.db, None)[position]
        conn = sqlite3.connect(snap.path)
        rows = conn.execute("SELECT v FROM t ORDER BY rowid").fetchall()
        conn.close()
        result = cli("d1", "restore", "worktime-db", snap.name, "--yes", "--json")
        assert result.exit_code == 0, result.output
        assert proj.query("SELECT v FROM t ORDER BY rowid") == rows
        assert len(_names(proj)) == snapshots.KEEP


def test_reset_with_the_ring_full_keeps_the_ring_full(cli, proj: Project) -> None:
    taken = _fill_ring(proj)
    proj.write("0001_t.sql", "CREATE TABLE t (v TEXT);\n")  # what the reset rebuilds
    d1.execute_command(proj.path, "INSERT INTO t VALUES ('pre-reset')")
    result = cli("d1", "reset", "worktime-db", "--yes")
    assert result.exit_code == 0, result.output
    listed = snapshots.list_snapshots(proj.cfg, proj.db, None)
    assert len(listed) == snapshots.KEEP
    assert [s.name for s in listed[1:]] == [s.name for s in reversed(taken[1:])]
    assert listed[0].operation == "reset"
    conn = sqlite3.connect(listed[0].path)
    assert ("pre-reset",) in conn.execute("SELECT v FROM t").fetchall()
    conn.close()


def test_a_failed_apply_with_the_ring_full_displaces_nothing(cli, proj: Project) -> None:
    before = [s.name for s in reversed(_fill_ring(proj))]
    proj.write("0001_broken.sql", "CREATE TABLE t (v TEXT);\n")  # t exists: fails, changes nothing
    result = cli("d1", "migrations", "apply", "worktime-db", "--yes")
    assert result.exit_code == 1, result.output
    assert _names(proj) == before


def test_an_apply_with_the_ring_full_displaces_the_oldest_only(cli, proj: Project) -> None:
    before = [s.name for s in reversed(_fill_ring(proj))]
    proj.write("0001_more.sql", "CREATE TABLE more (v TEXT);\n")
    result = cli("d1", "migrations", "apply", "worktime-db", "--yes")
    assert result.exit_code == 0, result.output
    names = _names(proj)
    assert len(names) == snapshots.KEEP and names[1:] == before[:-1]
