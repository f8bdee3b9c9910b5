"""`dev --worker` with the real wrangler says nothing misleading about where secrets come from.

wrangler announces each dotenv file it reads ("Using secrets defined in <path>"). worktime
hands the values through wrangler's process environment and tells it to read no dotenv file;
naming /dev/null for that made wrangler announce "Using secrets defined in ../../dev/null".
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.cli.test_dev import (
    WORKER_TOML,
    WORKER_TS,
    _session_pids,
    real_worker_dev,
    wait_for_worker,
)
from tests.support.dev import NULL_KEYRING, free_port, wait_until

SECRET = "w0rker-line-${HOME}-value"


@pytest.mark.wrangler
@pytest.mark.parametrize("declared", [True, False])
def test_wrangler_names_only_the_process_environment(
    project: Path, wrangler: str, declared: bool
) -> None:
    toml = WORKER_TOML if declared else WORKER_TOML.split("[secrets]")[0]
    (project / "wrangler.toml").write_text(toml)
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text(WORKER_TS)
    (project / ".dev.vars").write_text(f"JWT_SECRET='{SECRET}'\n")
    env = {
        **os.environ,
        "WORKTIME_WRANGLER": wrangler,
        "PYTHON_KEYRING_BACKEND": NULL_KEYRING,
        "NO_COLOR": "1",
    }
    port = free_port()
    expected = hashlib.sha256(SECRET.encode()).hexdigest()
    with real_worker_dev(project, env, port) as proc:
        url = f"http://127.0.0.1:{port}/?sha256={expected}"
        wait_for_worker(proc, url)
        answer = httpx.get(url, timeout=5).json()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        wait_until(lambda: _session_pids(proc.pid) == [], timeout=15)
    assert answer["present"] is True and answer["matches"] is True
    said = out + err
    assert "dev/null" not in said
    sources = [line.strip() for line in said.splitlines() if "Using secrets defined in" in line]
    assert sources == ["Using secrets defined in process.env"]
    assert SECRET not in said
