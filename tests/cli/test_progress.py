"""Progress bars on long work: on stderr, only on a terminal, not under -q, not for short work.

The terminal is a real pseudo-terminal (`pty.openpty()`): worktime runs as a child with its
stderr on the pty and its stdout on a file. WORKTIME_PROGRESS_DELAY=0 makes any run long
enough for the bar; without it a short run shows none.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.admin.support import WRANGLER_TOML, add_session, add_user
from tests.conftest import REPO, Runner
from worktime_cli import d1
from worktime_cli.admin.targets import SQLiteDatabase
from worktime_cli.cli import output
from worktime_cli.d1 import dump
from worktime_cli.project import config
from worktime_cli.sqlite import script as sqlscript

ROWS = 3000


@pytest.fixture
def busy(project: Path, cli: Runner) -> Path:
    """A project with D1 (migrated, a table `t`, sessions to count) and KV, and input files."""
    (project / "wrangler.toml").write_text(WRANGLER_TOML, encoding="utf-8")
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_initial_schema.sql").write_bytes(
        (REPO / "migrations" / "0001_initial_schema.sql").read_bytes()
    )
    (project / "migrations" / "0002_t.sql").write_text("CREATE TABLE t (a INTEGER, b TEXT);\n")
    assert cli("d1", "migrations", "apply", "DB").exit_code == 0
    cfg = config.load()
    db = SQLiteDatabase(d1.database_path(cfg, cfg.d1("DB"), None))
    alice = add_user(db, "alice")
    add_session(db, alice, start_time="2024-06-02 10:00:00", duration_seconds=600)
    db.close()
    (project / "rows.csv").write_text(
        "a,b\n" + "".join(f"{i},row {i}\n" for i in range(ROWS)), encoding="utf-8"
    )
    (project / "rows.sql").write_text(
        "".join(f"INSERT INTO t VALUES ({i}, 'row {i}');\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    (project / "bulk.json").write_text(
        json.dumps([{"key": f"k{i}", "value": str(i)} for i in range(300)]), encoding="utf-8"
    )
    (project / "migrations" / "0003_u.sql").write_text("CREATE TABLE u (a);\n")
    return project


def on_a_terminal(
    *args: str, cwd: Path, delay: str | None = "0", timeout: float = 30
) -> tuple[int, bytes, bytes]:
    """(exit code, what the terminal got on stderr, stdout) of `worktime ARGS` in a pty."""
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop(output.PROGRESS_DELAY_ENV, None)
    if delay is not None:
        env[output.PROGRESS_DELAY_ENV] = delay
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worktime_cli", *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=slave,
            )
        finally:
            os.close(slave)
        terminal = bytearray()
        try:
            while select.select([master], [], [], timeout)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                terminal += chunk
        finally:
            os.close(master)
        code = proc.wait(timeout=timeout)
        out.seek(0)
        return code, bytes(terminal), out.read()


LONG_WORK = [
    (("d1", "import", "DB", "t", "rows.csv"), b"importing rows.csv", b"rows"),
    (("d1", "execute", "DB", "--file", "rows.sql"), b"executing rows.sql", b"kB"),
    (("d1", "export", "DB", "--output", "dump.sql"), b"exporting worktime-db", b"rows"),
    (("kv", "bulk", "put", "bulk.json", "--binding", "KV"), b"writing bulk.json", b"keys"),
    (("d1", "migrations", "apply", "DB"), b"applying 0003_u.sql", b"migrations"),
    (("d1", "reset", "DB", "--yes"), b"resetting worktime-db", b"steps"),
    (("stats", "rebuild", "--yes"), b"rebuilding daily_stats", b""),
]


@pytest.mark.parametrize(
    ("argv", "bar", "unit"), LONG_WORK, ids=[" ".join(a[:2]) for a, _, _ in LONG_WORK]
)
def test_long_work_shows_a_bar_on_a_terminal(busy: Path, argv, bar, unit) -> None:
    code, terminal, _ = on_a_terminal(*argv, cwd=busy)
    assert code == 0, terminal.decode(errors="replace")
    assert bar in terminal
    assert unit in terminal
    # Transient: the bar's line is erased ("\x1b[2K") before the command's last words.
    assert b"\x1b[2K" in terminal[terminal.rindex(bar) :]


def test_the_bar_counts_the_rows_of_an_import(busy: Path) -> None:
    code, terminal, stdout = on_a_terminal("d1", "import", "DB", "t", "rows.csv", cwd=busy)
    assert code == 0
    assert f"/{ROWS:,} rows".encode() in terminal
    # The bar's line erased, then the command's own last line (NO_COLOR: no styles).
    assert terminal.rstrip().endswith(f"\x1b[2K✓ imported {ROWS} row(s) into t".encode())
    assert stdout == b""


def test_quiet_shows_no_bar_and_nothing_else(busy: Path) -> None:
    code, terminal, stdout = on_a_terminal("d1", "import", "DB", "t", "rows.csv", "-q", cwd=busy)
    assert (code, terminal, stdout) == (0, b"", b"")


def test_short_work_shows_no_bar(busy: Path) -> None:
    """At the default delay (about a second) an import of a few rows never draws a bar."""
    (busy / "few.csv").write_text("a,b\n1,x\n2,y\n")
    code, terminal, _ = on_a_terminal("d1", "import", "DB", "t", "few.csv", cwd=busy, delay=None)
    assert code == 0
    assert b"importing" not in terminal
    assert b"imported 2 row(s) into t" in terminal


def test_no_bar_when_stderr_is_not_a_terminal(busy: Path, cli: Runner, monkeypatch) -> None:
    """A piped stderr is byte for byte what it was before progress bars existed."""
    monkeypatch.setenv(output.PROGRESS_DELAY_ENV, "0")
    piped = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "d1", "import", "DB", "t", "rows.csv"],
        cwd=busy,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert piped.returncode == 0
    assert piped.stderr == f"✓ imported {ROWS} row(s) into t\n".encode()
    in_process = cli("d1", "execute", "DB", "--file", "rows.sql")
    assert in_process.exit_code == 0
    assert in_process.stderr == ""  # stdout not a terminal either: the JSON result only
    assert json.loads(in_process.stdout)[0]["meta"]["statements"] == ROWS


# --- the core's callbacks: plain functions, called per batch, never per row -----------------


def test_export_reports_rows_every_batch_with_the_total(
    busy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dump, "PROGRESS_ROWS", 1000)
    cfg = config.load()
    path = d1.database_path(cfg, cfg.d1("DB"), None)
    rows = 2 * dump.PROGRESS_ROWS + 5
    conn = d1.connect(path)
    with conn.transaction():
        conn.executemany("INSERT INTO t VALUES (?, 'x')", [(i,) for i in range(rows)])
    conn.close()
    seen: list[tuple[int, int | None]] = []
    d1.export(path, busy / "dump.sql", tables=["t"], on_progress=lambda *a: seen.append(a))
    assert seen == [
        (dump.PROGRESS_ROWS, rows),
        (2 * dump.PROGRESS_ROWS, rows),
        (rows, rows),
    ]


def test_the_fast_path_reports_per_chunk_not_per_statement(busy: Path) -> None:
    cfg = config.load()
    path = d1.database_path(cfg, cfg.d1("DB"), None)
    sql = busy / "many.sql"
    line = "INSERT INTO t VALUES (1, '" + "x" * 80 + "');\n"
    statements = (2 * sqlscript.CHUNK_SIZE) // len(line) + 10
    sql.write_text(line * statements, encoding="utf-8")
    calls: list[int] = []
    result = d1.execute_file(path, sql, calls.append)
    assert result.meta["statements"] == statements
    assert sum(calls) == sql.stat().st_size
    assert len(calls) <= 3  # one per chunk read (1 MiB each)


def test_reset_reports_its_steps(busy: Path) -> None:
    from worktime_cli.migrations.reset import reset

    (busy / "seed.sql").write_text("INSERT INTO t VALUES (1, 'seed');\n")
    cfg = config.load()
    seen: list[tuple[int, int | None]] = []
    result = reset(
        cfg, cfg.d1("DB"), None, seed=busy / "seed.sql", on_progress=lambda *a: seen.append(a)
    )
    steps = len(result.applied) + 2  # each migration, the seed, the swap
    assert seen[-1] == (steps, steps)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert {total for _, total in seen} == {steps}


# --- the delayed start -----------------------------------------------------------------------


def _terminal_console(monkeypatch: pytest.MonkeyPatch) -> tuple[io.StringIO, Console]:
    """A console that is a terminal able to redraw (the fixtures' TERM=dumb is not)."""
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = io.StringIO()
    return screen, Console(file=screen, force_terminal=True, force_interactive=True, width=80)


def test_the_bar_appears_once_the_delay_has_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    screen, console = _terminal_console(monkeypatch)
    bar = output._DelayedBar(console, "working", 10, "items", delay=0.05)
    try:
        bar.update(3)
        deadline = time.monotonic() + 5
        while "working" not in screen.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "3/10 items" in screen.getvalue()
    finally:
        bar.close()


def test_work_done_before_the_delay_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    screen, console = _terminal_console(monkeypatch)
    bar = output._DelayedBar(console, "working", 10, "items", delay=0.1)
    bar.advance(10)
    bar.close()
    time.sleep(0.2)  # the timer was cancelled: nothing starts late
    assert screen.getvalue() == ""
