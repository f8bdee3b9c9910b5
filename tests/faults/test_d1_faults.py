"""Issue 13 for local D1: snapshots, create, export, statement limits, locks, machine faults."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.faults.machine import (
    PEAK_RSS,
    WORKTIME,
    assert_clean_failure,
    in_private_mounts,
    require_root,
)
from worktime_cli import d1, fsutil
from worktime_cli.d1 import snapshots
from worktime_cli.errors import SQLError, UsageError, WorktimeError
from worktime_cli.project import config, editing
from worktime_cli.sqlite import script as sqlscript

DB = "faults-db"


@pytest.fixture
def d1_project(project: Path) -> Path:
    toml = project / "wrangler.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8")
        + f'\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "{DB}"\n'
        'database_id = "0c0ffee0-0000-4000-8000-000000000001"\n',
        encoding="utf-8",
    )
    return project


def db_path() -> Path:
    cfg = config.load()
    return d1.database_path(cfg, cfg.d1(DB), None)


def rows(path: Path) -> list[tuple[int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT x FROM t ORDER BY x").fetchall()
    finally:
        conn.close()


def worktime(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worktime_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- restore checks the snapshot --------------------------------------------------------------


def test_restore_refuses_a_damaged_snapshot_and_names_the_newest_good_one(d1_project: Path) -> None:
    cfg = config.load()
    db = cfg.d1(DB)
    d1.execute_command(db_path(), "CREATE TABLE t (x); INSERT INTO t VALUES (1)", create=True)
    good = snapshots.take(cfg, db, None, "apply")
    d1.execute_command(db_path(), "INSERT INTO t VALUES (2)")
    time.sleep(0.01)  # a later timestamp in the name
    bad = snapshots.take(cfg, db, None, "apply")
    d1.execute_command(db_path(), "INSERT INTO t VALUES (3)")
    assert good is not None and bad is not None
    with open(bad.path, "r+b") as handle:  # a torn copy: page 2 onwards overwritten
        handle.seek(4096)
        handle.write(b"\xff" * 8192)
    live_before = db_path().read_bytes()
    with pytest.raises(SQLError) as caught:
        snapshots.restore(cfg, db, None, snapshots.find(cfg, db, None))
    assert caught.value.message.startswith(f"snapshot {bad.path} is damaged (")
    assert caught.value.message.endswith("); nothing was restored")
    assert (
        caught.value.hint == f"restore the newest good one: `worktime d1 restore {DB} {good.name}`"
    )
    assert rows(db_path()) == [(1,), (2,), (3,)]
    assert db_path().read_bytes() == live_before
    # No "before the restore" snapshot was taken for a restore that did not happen.
    assert [s.name for s in snapshots.list_snapshots(cfg, db, None)] == [bad.name, good.name]
    restored = snapshots.restore(cfg, db, None, good)
    assert restored.restored == good
    assert rows(db_path()) == [(1,)]


def test_a_snapshot_that_is_not_a_database_is_refused(d1_project: Path) -> None:
    cfg = config.load()
    db = cfg.d1(DB)
    d1.execute_command(db_path(), "CREATE TABLE t (x)", create=True)
    only = snapshots.take(cfg, db, None, "apply")
    assert only is not None
    only.path.write_bytes(b"garbage" * 1000)
    with pytest.raises(SQLError) as caught:
        snapshots.restore(cfg, db, None, only)
    assert caught.value.hint == f"no older snapshot of {DB!r} passes the check either"


def test_killed_snapshot_temp_files_are_cleaned_by_the_next_run(d1_project: Path) -> None:
    cfg = config.load()
    db = cfg.d1(DB)
    d1.execute_command(db_path(), "CREATE TABLE t (x)", create=True)
    folder = snapshots.folder(cfg, db, None)
    folder.mkdir(parents=True)
    target = folder / "20260101T000000.000000Z-apply.sqlite"
    leftovers = [
        fsutil.temp_path(target),
        folder / ".20250101T000000.000000Z-apply.sqlite.tmp",  # worktime 1's name
        folder / ".20250101T000000.000000Z-apply.sqlite.tmp-journal",
    ]
    leftovers.append(leftovers[0].with_name(leftovers[0].name + "-journal"))
    in_flight = fsutil.temp_path(target)  # another run's, still being written
    past = time.time() - fsutil.GRACE_SECONDS - 5
    for path in [*leftovers, in_flight]:
        path.write_bytes(b"partial copy")
    for path in leftovers:
        os.utime(path, (past, past))
    taken = snapshots.take(cfg, db, None, "apply")
    assert taken is not None
    assert sorted(p.name for p in folder.iterdir()) == sorted([taken.name, in_flight.name])


# --- create: state and config together -----------------------------------------------------------


def test_d1_create_removes_the_new_file_when_the_config_edit_fails(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise WorktimeError("the edit failed")

    monkeypatch.setattr(editing, "append_table", broken)
    toml_before = (project / "wrangler.toml").read_bytes()
    with pytest.raises(WorktimeError, match="the edit failed"):
        d1.create(config.load(), "new-db", None)
    assert (project / "wrangler.toml").read_bytes() == toml_before
    found = (
        list((project / ".wrangler").rglob("*.sqlite*")) if (project / ".wrangler").exists() else []
    )
    assert found == []


def test_d1_create_on_a_read_only_or_full_state_folder_changes_nothing(project: Path) -> None:
    mnt = project / ".wrangler"
    mnt.mkdir()
    toml = project / "wrangler.toml"
    before = toml.read_bytes()
    script = f"""
mount -t tmpfs -o size=64k tmpfs {mnt}
head -c 1000000 /dev/zero > {mnt}/filler || true
set +e
{WORKTIME} d1 create full-db 2> {project}/full.txt
echo $? > {project}/full.rc
set -e
rm {mnt}/filler
mount -o remount,ro {mnt}
set +e
{WORKTIME} d1 create ro-db 2> {project}/ro.txt
echo $? > {project}/ro.rc
set -e
find {mnt} > {project}/after.txt
"""
    done = in_private_mounts(script, cwd=project)
    assert done.returncode == 0, done.stderr
    for name, words in (("full", "disk is full"), ("ro", "read-only")):
        result = subprocess.CompletedProcess(
            [], int((project / f"{name}.rc").read_text()), "", (project / f"{name}.txt").read_text()
        )
        assert_clean_failure(result, str(mnt))
        assert words in result.stderr.lower(), result.stderr
    assert toml.read_bytes() == before
    assert ".sqlite" not in (project / "after.txt").read_text()


# --- export onto special files --------------------------------------------------------------------


def test_export_into_a_fifo_writes_through_it(d1_project: Path, cli: Runner) -> None:
    d1.execute_command(db_path(), "CREATE TABLE t (x); INSERT INTO t VALUES (42)", create=True)
    fifo = d1_project / "dump.pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            got.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = cli("d1", "export", DB, "--output", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert b'INSERT INTO "t"' in got[0] and b"VALUES(42);" in got[0]
    assert not [p for p in d1_project.iterdir() if fsutil.is_temp(p.name)]


def test_export_onto_devices_never_replaces_them(d1_project: Path, cli: Runner) -> None:
    require_root("make private /dev/null and /dev/full nodes with mknod")
    d1.execute_command(db_path(), "CREATE TABLE t (x); INSERT INTO t VALUES (1)", create=True)
    null, full = d1_project / "null", d1_project / "full"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    assert cli("d1", "export", DB, "--output", str(null)).exit_code == 0
    result = cli("d1", "export", DB, "--output", str(full))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: cannot write {full}: No space left on device"
    assert stat.S_ISCHR(null.stat().st_mode) and stat.S_ISCHR(full.stat().st_mode)


# --- statement limit ------------------------------------------------------------------------------


def test_a_64_mib_literal_is_refused_at_the_limit_with_its_line_and_bounded_memory(
    d1_project: Path,
) -> None:
    """v1: 263 s and 400 MB re-scanning the pending statement, then "query string is too large"."""
    sql = d1_project / "big.sql"
    line = "abc;def " * 8 + "\n"
    with open(sql, "w", encoding="utf-8") as out:
        out.write("CREATE TABLE t (x);\nINSERT INTO t VALUES ('")
        out.write(line * (64 * 1024 * 1024 // len(line)))
        out.write("');\n")
    d1.execute_command(db_path(), "SELECT 1", create=True)
    code = (
        PEAK_RSS + "import sys\n"
        "from worktime_cli.cli.app import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    sys.stderr.write(f'exit {exc.code}\\n')\n"
        "    sys.stderr.write(f'rss {peak_rss_kib()}\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "d1", "execute", DB, "--file", str(sql)],
        cwd=d1_project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {sql}:2: statement is longer than D1's limit of 100,000 bytes"
    assert "exit 1" in lines
    rss_kib = int(next(x for x in lines if x.startswith("rss ")).split()[1])
    assert rss_kib < 150 * 1024
    assert d1.execute_command(db_path(), "SELECT count(*) AS n FROM sqlite_master")[0].rows == [
        {"n": 0}
    ]


def test_a_statement_over_the_limit_in_multibyte_text_is_refused(tmp_path: Path) -> None:
    text = "SELECT '" + "é" * 50_000 + "';"  # 50,000 characters, 100,000+ bytes
    with pytest.raises(SQLError) as caught:
        sqlscript.split(text, "x.sql")
    assert caught.value.message == "x.sql:1: statement is longer than D1's limit of 100,000 bytes"
    assert len(sqlscript.split("SELECT '" + "x" * 99_000 + "';")) == 1


def test_non_utf8_command_is_one_line_without_echo(d1_project: Path) -> None:
    argv = [os.fsencode(sys.executable), b"-m", b"worktime_cli", b"d1", b"execute", DB.encode()]
    result = subprocess.run(
        [*argv, b"--command", b"SELECT 'SECRET\xff'"], cwd=d1_project, capture_output=True
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines()[0] == (
        "error: command is not valid UTF-8 text (character 15 is an undecodable byte or a lone "
        "surrogate)"
    )
    assert b"SECRET" not in result.stderr + result.stdout


# --- locks ----------------------------------------------------------------------------------------


def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (99)")
    return other


def test_a_read_only_command_takes_no_write_lock(
    d1_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d1.execute_command(db_path(), "CREATE TABLE t (x); INSERT INTO t VALUES (1)", create=True)
    monkeypatch.setenv("WORKTIME_BUSY_TIMEOUT", "0")
    other = hold_write_lock(db_path())
    try:
        results = d1.execute_command(
            db_path(), "SELECT x FROM t; WITH a AS (SELECT 2 AS y) SELECT y FROM a"
        )
        assert [r.rows for r in results] == [[{"x": 1}], [{"y": 2}]]
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_queued_write_says_it_is_waiting_and_then_runs(
    d1_project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    d1.execute_command(db_path(), "CREATE TABLE t (x)", create=True)
    monkeypatch.setenv("WORKTIME_BUSY_TIMEOUT", "60")
    other = hold_write_lock(db_path())
    released = threading.Event()

    def release_soon() -> None:
        time.sleep(1.5)  # longer than v1's fixed 5 s would not matter; the message does
        other.execute("COMMIT")
        other.close()
        released.set()

    threading.Thread(target=release_soon, daemon=True).start()
    with caplog.at_level(logging.WARNING, logger="worktime"):
        d1.execute_command(db_path(), "INSERT INTO t VALUES (1)")
    assert released.is_set()
    assert rows(db_path()) == [(1,), (99,)]
    (record,) = [r for r in caplog.records if r.name == "worktime"]
    assert record.getMessage() == (
        f"waiting for another writer to finish with database {db_path()} "
        "(up to 60 s; WORKTIME_BUSY_TIMEOUT sets how long)"
    )


def test_a_bad_busy_timeout_is_a_usage_error(
    d1_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bad in ("soon", "-1", "nan", "inf", "1e30"):
        monkeypatch.setenv("WORKTIME_BUSY_TIMEOUT", bad)
        with pytest.raises(UsageError, match="WORKTIME_BUSY_TIMEOUT must be a number of seconds"):
            d1.execute_command(db_path(), "SELECT 1", create=True)


# --- machine faults -------------------------------------------------------------------------------


def test_corrupted_database_file_is_one_error(d1_project: Path) -> None:
    d1.execute_command(db_path(), "CREATE TABLE t (x)", create=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path()}{suffix}").unlink(missing_ok=True)
    db_path().write_bytes(b"not sqlite at all " * 300)
    before = db_path().read_bytes()
    result = worktime("d1", "execute", DB, "--command", "SELECT 1", cwd=d1_project)
    assert_clean_failure(result, str(db_path()), "not a SQLite database")
    assert db_path().read_bytes() == before


def test_read_only_state_folder_for_d1(d1_project: Path) -> None:
    mnt = d1_project / ".wrangler"
    mnt.mkdir()
    script = f"""
mount -t tmpfs -o size=8m tmpfs {mnt}
{WORKTIME} d1 execute {DB} --command "CREATE TABLE t (x); INSERT INTO t VALUES (1)"
find {mnt} -type f | sort | xargs sha256sum > {d1_project}/before.txt
mount -o remount,ro {mnt}
set +e
{WORKTIME} d1 execute {DB} --command "INSERT INTO t VALUES (2)" 2> {d1_project}/err.txt
echo $? > {d1_project}/rc.txt
set -e
find {mnt} -type f | sort | xargs sha256sum > {d1_project}/after.txt
"""
    done = in_private_mounts(script, cwd=d1_project)
    assert done.returncode == 0, done.stderr
    result = subprocess.CompletedProcess(
        [], int((d1_project / "rc.txt").read_text()), "", (d1_project / "err.txt").read_text()
    )
    assert_clean_failure(result, str(mnt), "read-only file system")
    assert (d1_project / "after.txt").read_text() == (d1_project / "before.txt").read_text()


def test_symlink_loop_migrations_folder(d1_project: Path) -> None:
    (d1_project / "migrations").symlink_to(d1_project / "migrations")
    d1.execute_command(db_path(), "SELECT 1", create=True)
    result = worktime("d1", "migrations", "list", DB, cwd=d1_project)
    assert_clean_failure(result, str(d1_project / "migrations"))


def test_execute_file_refuses_a_pipe_instead_of_hanging(d1_project: Path) -> None:
    fifo = d1_project / "sql.pipe"
    os.mkfifo(fifo)
    d1.execute_command(db_path(), "SELECT 1", create=True)
    with pytest.raises(SQLError) as caught:
        d1.execute_file(db_path(), fifo)
    assert caught.value.message == f"{fifo} is not a regular file (a pipe or device)"
