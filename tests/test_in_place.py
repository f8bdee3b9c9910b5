"""Commands that replace a local database change it in place (issue 19, part 2).

A process that has the file open (`wrangler dev`, `worktime dev`, a sqlite3 shell) keeps its
file descriptor: had the file been unlinked and recreated, every row it commits afterwards would
go into a deleted inode and vanish. Each test runs a real second process holding a connection.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.migrations import Project, make_project, table
from worktime_cli import d1, migrations
from worktime_cli.d1 import snapshots

# A second process with one connection open: each stdin line `insert V` inserts a row into t2
# and answers `ok` (`sql S` runs S); `bg` starts a second connection that inserts `bg-1`, `bg-2`, … every few
# milliseconds until stdin closes, then prints the last number it committed.
_WRITER = r"""
import sqlite3, sys, threading, time

path = sys.argv[1]
conn = sqlite3.connect(path, timeout=60, isolation_level=None)
stop = threading.Event()
last = [0]
started = threading.Event()

def background():
    bg = sqlite3.connect(path, timeout=60, isolation_level=None)
    n = 0
    while not stop.is_set():
        n += 1
        bg.execute("INSERT INTO t2 (v) VALUES (?)", (f"bg-{n}",))
        last[0] = n
        started.set()
        time.sleep(0.003)
    bg.close()

thread = None
print("ready", flush=True)
for line in sys.stdin:
    command, _, value = line.rstrip("\n").partition(" ")
    if command == "insert":
        conn.execute("INSERT INTO t2 (v) VALUES (?)", (value,))
    elif command == "sql":
        conn.execute(value)
    elif command == "bg":
        thread = threading.Thread(target=background)
        thread.start()
        started.wait()
    elif command == "stop":
        # At least one more row after the command under test returned (a busy machine may
        # not have scheduled the thread since), so "rows committed afterwards" is never empty.
        seen = last[0]
        while last[0] == seen and thread.is_alive():
            time.sleep(0.001)
        stop.set()
        thread.join()
        print(f"last {last[0]}", flush=True)
        continue
    print("ok", flush=True)
conn.close()
"""


class Writer:
    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._read() == "ready"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line, f"writer died (exit {self.proc.poll()})"
        return line

    def send(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read()

    def insert(self, *values: str) -> None:
        for value in values:
            assert self.send(f"insert {value}") == "ok"

    def start_background(self) -> None:
        assert self.send("bg") == "ok"

    def stop_background(self) -> int:
        answer = self.send("stop")
        assert answer.startswith("last ")
        return int(answer.removeprefix("last "))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def proj(project: Path) -> Project:
    p = make_project(project)
    p.write("0001_t2.sql", *table(2))
    migrations.apply(p.cfg, p.db, None)
    return p


@pytest.fixture
def writer(proj: Project) -> Iterator[Writer]:
    w = Writer(proj.path)
    try:
        yield w
    finally:
        w.close()


def _values(proj: Project) -> list[str]:
    return [str(v) for (v,) in proj.query("SELECT v FROM t2 ORDER BY id")]


def _background_rows_kept(values: list[str], last: int) -> None:
    """The background rows in the file end at the last one committed, with no gap after the
    command: a reset/restore may drop the ones before it, never one committed after it."""
    numbers = [int(v.removeprefix("bg-")) for v in values if v.startswith("bg-")]
    assert numbers, "no background row survived"
    assert numbers[-1] == last
    assert numbers == list(range(numbers[0], last + 1))


def test_reset_keeps_rows_another_process_commits_afterwards(
    cli, proj: Project, writer: Writer
) -> None:
    writer.insert("before")
    writer.start_background()
    time.sleep(0.05)  # the background writer is mid-stream when the reset runs
    result = cli("d1", "reset", "worktime-db", "--yes")
    assert result.exit_code == 0, result.output
    writer.insert(*(f"after-{n}" for n in range(26)))
    last = writer.stop_background()
    values = _values(proj)
    assert "before" not in values  # the reset emptied the table the writer sees
    assert [v for v in values if v.startswith("after-")] == [f"after-{n}" for n in range(26)]
    _background_rows_kept(values, last)
    # The snapshot taken before the reset holds the pre-reset rows, up to the very last one:
    # it is taken under the write lock the new content is committed with, so every row the
    # background writer committed is in the snapshot or in the live file.
    [snap] = snapshots.list_snapshots(proj.cfg, proj.db, None)
    assert snap.operation == "reset"
    conn = sqlite3.connect(snap.path)
    old = [str(v) for (v,) in conn.execute("SELECT v FROM t2 ORDER BY id")]
    conn.close()
    assert old[0] == "before"
    both = [int(v.removeprefix("bg-")) for v in old[1:] + values if v.startswith("bg-")]
    assert both == list(range(1, last + 1))


def test_restore_keeps_rows_another_process_commits_afterwards(
    cli, proj: Project, writer: Writer
) -> None:
    writer.insert("in the snapshot")
    snap = snapshots.take(proj.cfg, proj.db, None, "apply")
    assert snap is not None
    writer.insert("undone by the restore")
    writer.start_background()
    time.sleep(0.05)
    result = cli("d1", "restore", "worktime-db", snap.name, "--yes")
    assert result.exit_code == 0, result.output
    writer.insert("after")
    last = writer.stop_background()
    values = _values(proj)
    assert values[0] == "in the snapshot"
    assert "undone by the restore" not in values
    assert "after" in values
    _background_rows_kept(values, last)


def test_reset_from_a_database_with_another_page_size(cli, proj: Project, writer: Writer) -> None:
    """The backup API cannot change a WAL database's page size: the new content is built at
    the live file's page size, so the reset still happens in place."""
    writer.close()
    proj.path.unlink()
    for suffix in ("-wal", "-shm"):
        proj.path.with_name(proj.path.name + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(proj.path)
    conn.execute("PRAGMA page_size = 8192")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    migrations.apply(proj.cfg, proj.db, None)
    other = Writer(proj.path)
    try:
        other.insert("before")
        assert cli("d1", "reset", "worktime-db", "--yes").exit_code == 0
        other.insert("after")
    finally:
        other.close()
    assert _values(proj) == ["after"]
    assert proj.query("PRAGMA page_size") == [(8192,)]


def test_delete_refuses_a_database_another_process_has_open(
    cli, proj: Project, writer: Writer
) -> None:
    path = proj.path
    writer.insert("kept")
    result = cli("d1", "delete", "worktime-db", "--yes")
    assert result.exit_code == 1
    assert f"database worktime-db is in use by PID {writer.pid}" in result.stderr
    assert proj.path.is_file()
    assert "worktime-db" in (proj.root / "wrangler.toml").read_text()
    writer.insert("still kept")
    assert _values(proj) == ["kept", "still kept"]
    writer.close()
    assert cli("d1", "delete", "worktime-db", "--yes").exit_code == 0
    assert not path.exists()


# --- workerd's own tables stay ------------------------------------------------------------------

_METADATA_DDL = "CREATE TABLE _cf_METADATA (key INTEGER PRIMARY KEY, value BLOB)"


def _add_workerd_table(path: Path, value: int) -> None:
    """What `wrangler dev` adds to a D1 file it opens (workerd's Durable Object metadata)."""
    conn = sqlite3.connect(path)
    conn.execute(_METADATA_DDL)
    conn.execute("INSERT INTO _cf_METADATA VALUES (2, ?)", (value,))
    conn.commit()
    conn.close()


def _workerd_rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM _cf_METADATA").fetchall()
    finally:
        conn.close()


def test_reset_keeps_the_workerd_tables_of_the_live_file(cli, proj: Project) -> None:
    _add_workerd_table(proj.path, 1)
    assert cli("d1", "reset", "worktime-db", "--yes").exit_code == 0
    assert _workerd_rows(proj.path) == [(2, 1)]
    assert proj.applied() == ["0001_t2.sql"]


def test_restore_keeps_the_live_workerd_tables_not_the_snapshots(cli, proj: Project) -> None:
    plain = snapshots.take(proj.cfg, proj.db, None, "apply")  # before wrangler dev ever ran
    assert plain is not None
    _add_workerd_table(proj.path, 7)
    assert cli("d1", "restore", "worktime-db", plain.name, "--yes").exit_code == 0
    assert _workerd_rows(proj.path) == [(2, 7)]
    # A snapshot holding other workerd rows does not bring them back either.
    conn = sqlite3.connect(proj.path)
    conn.execute("UPDATE _cf_METADATA SET value = 8")
    conn.commit()
    conn.close()
    restore_snapshot = snapshots.list_snapshots(proj.cfg, proj.db, None)[0]
    assert restore_snapshot.operation == "restore" and _workerd_rows(restore_snapshot.path)
    assert cli("d1", "restore", "worktime-db", restore_snapshot.name, "--yes").exit_code == 0
    assert _workerd_rows(proj.path) == [(2, 8)]


# --- what cannot be done in place is refused, and changes nothing --------------------------------


def test_restore_waits_for_a_writer_then_gives_up_changing_nothing(
    cli, proj: Project, writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.insert("one")
    snap = snapshots.take(proj.cfg, proj.db, None, "apply")
    assert snap is not None
    snapshots.settle(snap)
    # The writer holds the write lock (a transaction left open) for longer than we wait.
    for line in ("BEGIN IMMEDIATE", "INSERT INTO t2 (v) VALUES ('uncommitted')"):
        assert writer.send(f"sql {line}") == "ok"
    monkeypatch.setenv("WORKTIME_BUSY_TIMEOUT", "0.2")
    result = cli("d1", "restore", "worktime-db", snap.name, "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: database 'worktime-db' is locked by another process")
    assert f"PID {writer.pid}" in result.stderr
    assert [s.name for s in snapshots.list_snapshots(proj.cfg, proj.db, None)] == [snap.name]
    assert writer.send("sql COMMIT") == "ok"
    assert _values(proj) == ["one", "uncommitted"]


def test_a_failing_reset_changes_nothing_and_keeps_no_snapshot(cli, proj: Project) -> None:
    d1.execute_command(proj.path, "INSERT INTO t2 (v) VALUES ('kept')")
    proj.write("0002_broken.sql", "CREATE TABLE t2 (x);\n")  # t2 exists already
    result = cli("d1", "reset", "worktime-db", "--yes")
    assert result.exit_code == 1
    assert "worktime-db was not changed" in result.stderr
    assert _values(proj) == ["kept"]
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []
    proj.migrations.joinpath("0002_broken.sql").unlink()
    (proj.root / "seed.sql").write_text("INSERT INTO nope VALUES (1);\n")
    result = cli("d1", "reset", "worktime-db", "--seed", "seed.sql", "--yes")
    assert result.exit_code == 1
    assert "worktime-db was not changed" in result.stderr
    assert _values(proj) == ["kept"]
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []
    # Nothing of the scratch database is left behind.
    assert [p.name for p in snapshots.folder(proj.cfg, proj.db, None).iterdir()] == []


def test_kv_namespace_delete_refuses_an_index_another_process_has_open(cli, project: Path) -> None:
    from worktime_cli.project import config, state

    assert cli("kv", "namespace", "create", "CACHE").exit_code == 0
    assert cli("kv", "key", "put", "k", "v", "--binding", "CACHE").exit_code == 0
    cfg = config.load(project / "wrangler.toml")
    index = state.kv_index_path(state.root(cfg), cfg.kv(binding="CACHE").local_id)
    assert index.is_file()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('SELECT 1 FROM sqlite_master').fetchall(); print('ok', flush=True); "
            "sys.stdin.read()",
            str(index),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        result = cli("kv", "namespace", "delete", "--binding", "CACHE", "--yes")
        assert result.exit_code == 1
        assert f"KV namespace CACHE is in use by PID {holder.pid}" in result.stderr
        assert index.is_file() and "CACHE" in (project / "wrangler.toml").read_text()
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    assert cli("kv", "namespace", "delete", "--binding", "CACHE", "--yes").exit_code == 0
    assert not index.exists()


def test_a_snapshot_that_cannot_be_written_stops_the_reset_before_it_commits(
    proj: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety snapshot is taken under the write lock, before the new content commits: if
    it fails (a full disk), the live file keeps its rows and no snapshot is left."""
    from worktime_cli.errors import WorktimeError
    from worktime_cli.migrations.reset import reset

    d1.execute_command(proj.path, "INSERT INTO t2 (v) VALUES ('kept')")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise WorktimeError("cannot write snapshot: No space left on device")

    monkeypatch.setattr(snapshots, "take", full_disk)
    with pytest.raises(WorktimeError, match="No space left"):
        reset(proj.cfg, proj.db, None)
    assert _values(proj) == ["kept"]
    assert proj.applied() == ["0001_t2.sql"]
    assert snapshots.list_snapshots(proj.cfg, proj.db, None) == []
