"""`d1 reset` and `d1 restore` under a running `wrangler dev` (issue 19, part 2).

The real thing the in-place rule is for: workerd holds the D1 file open. After a reset the
Worker must see the new content and every row it writes must land in the file worktime and
wrangler share; workerd's own `_cf_METADATA` table must survive, or every later query fails.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dev import free_port
from tests.support.migrations import DATABASE_ID, Project, table
from worktime_cli import migrations
from worktime_cli.d1 import snapshots

pytestmark = [pytest.mark.wrangler, pytest.mark.slow]

READY_TIMEOUT = 90.0

WRANGLER_TOML = f"""name = "in-place-check"
main = "src/index.js"
compatibility_date = "2025-01-01"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "{DATABASE_ID}"
migrations_dir = "migrations"
"""

# GET /?v=X inserts X into t2; every answer is the list of t2's values.
WORKER = """export default {
  async fetch(request, env) {
    const v = new URL(request.url).searchParams.get("v");
    if (v) await env.DB.prepare("INSERT INTO t2 (v) VALUES (?)").bind(v).run();
    const { results } = await env.DB.prepare("SELECT v FROM t2 ORDER BY id").all();
    return Response.json(results.map((r) => r.v));
  },
};
"""


@pytest.fixture
def proj(project: Path) -> Project:
    (project / "wrangler.toml").write_text(WRANGLER_TOML, encoding="utf-8")
    (project / "src").mkdir()
    (project / "src" / "index.js").write_text(WORKER, encoding="utf-8")
    p = Project(project)
    p.write("0001_t2.sql", *table(2))
    migrations.apply(p.cfg, p.db, None)
    return p


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl+C for wrangler and its workerd children (their own process group); then kill."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def worker(wrangler: str, proj: Project, tmp_path: Path) -> Iterator[str]:
    """`wrangler dev` on a free loopback port, holding the D1 file open; its URL."""
    port = free_port()
    log = tmp_path / "wrangler-dev.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            # Two wranglers starting at once can both pick the inspector port 9229.
            [
                wrangler,
                "dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--inspector-port",
                str(free_port()),
            ],
            cwd=proj.root,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"wrangler dev exited {proc.returncode}:\n{log.read_text()}")
                try:
                    httpx.get(url, timeout=5)
                    break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"wrangler dev not ready in {READY_TIMEOUT}s:\n{log.read_text()}")
                time.sleep(0.25)
            yield url
        finally:
            _stop(proc)
    assert "_cf_METADATA" not in log.read_text(), log.read_text()


def _get(url: str, value: str) -> list[str]:
    answer = httpx.get(url, params={"v": value}, timeout=30)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _in_file(proj: Project) -> list[str]:
    conn = sqlite3.connect(proj.path)
    try:
        return [str(v) for (v,) in conn.execute("SELECT v FROM t2 ORDER BY id")]
    finally:
        conn.close()


def test_reset_and_restore_under_wrangler_dev(cli, proj: Project, worker: str) -> None:
    assert _get(worker, "before") == ["before"]
    assert cli("d1", "reset", "worktime-db", "--yes").exit_code == 0
    # The Worker sees the new content, and what it writes is in the file worktime reads.
    assert _get(worker, "after-reset") == ["after-reset"]
    assert _in_file(proj) == ["after-reset"]
    [snap] = snapshots.list_snapshots(proj.cfg, proj.db, None)
    assert cli("d1", "restore", "worktime-db", snap.name, "--yes").exit_code == 0
    assert _get(worker, "after-restore") == ["before", "after-restore"]
    assert _in_file(proj) == ["before", "after-restore"]
