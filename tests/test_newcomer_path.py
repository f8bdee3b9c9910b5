"""The README's main command, end to end: `worktime init` then `worktime dev`, as processes."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.support.dev import READY_OK, dev, free_port, stop, wait_ready, wait_until


def test_init_then_dev(tmp_path):
    root = tmp_path / "backend"
    init = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "init", str(root), "--yes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    assert init.stdout == ""
    # The real Worker is scaffolded too (its CI test is test_worker_scaffold.py), with a
    # types file that is current; nothing of it is needed for `worktime dev`, and no npm ran.
    for name in ("src/index.ts", "package.json", "tsconfig.json", "worker-configuration.d.ts"):
        assert (root / name).is_file(), name
    assert not (root / "node_modules").exists()
    types = subprocess.run(
        [sys.executable, "-m", "worktime_cli", "types", "--check"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (types.returncode, types.stdout) == (0, ""), types.stderr
    (root / ".dev.vars").write_text(
        "JWT_SECRET=dev-jwt\nGITHUB_CLIENT_ID=dev-id\nGITHUB_CLIENT_SECRET=dev-secret\n"
    )
    port = free_port()
    with dev(root, "--port", str(port)) as (proc, url):
        wait_ready(proc, url)
        health = httpx.get(url + "/health")
        assert (health.status_code, health.text) == (200, '{"status":"ok"}')
        assert health.headers["content-type"] == "application/json"
        head = httpx.head(url + "/health")
        assert (head.status_code, head.content) == (200, b"")
        ready = httpx.get(url + "/health/ready")
        assert (ready.status_code, ready.text) == (200, READY_OK)

        # A new migration file makes the server not ready, without a restart.
        (root / "migrations" / "0002_notes.sql").write_text("CREATE TABLE notes (id INTEGER);\n")
        wait_until(lambda: httpx.get(url + "/health/ready").status_code == 503, timeout=15)
        assert "0002_notes.sql" in httpx.get(url + "/health/ready").text
        code, out, err = stop(proc)
    assert code == 0
    assert out == ""
    assert "GET /health 200 OK" in err
    for value in ("dev-jwt", "dev-secret"):
        assert value not in err + init.stderr
