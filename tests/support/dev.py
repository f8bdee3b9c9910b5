"""Helpers for the dev-server tests: a real project on disk and a real server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from worktime_cli import d1, migrations
from worktime_cli.dev import server
from worktime_cli.dev.app import create_app
from worktime_cli.dev.bindings import Bindings, build_bindings
from worktime_cli.dev.listener import bind
from worktime_cli.project import config, state

REPO = Path(__file__).resolve().parent.parent.parent
DB_ID = "6f0c1c51-3b7e-4a36-9a36-0f6d3f1a2b01"
KV_ID = "0123456789abcdef0123456789abcdef"

WRANGLER_TOML = f"""\
name = "worktime-backend"
main = "src/index.ts"
compatibility_date = "2025-01-01"

[[d1_databases]]
binding = "DB"
database_name = "worktime-db"
database_id = "{DB_ID}"
migrations_dir = "migrations"

[[kv_namespaces]]
binding = "KV"
id = "{KV_ID}"

[vars]
ENVIRONMENT = "development"
"""


def make_project(root: Path, *, required: tuple[str, ...] = (), applied: bool = True) -> Path:
    """wrangler.toml with DB + KV, the repo's migrations, and (by default) all applied."""
    text = WRANGLER_TOML
    if required:
        text += "\n[secrets]\nrequired = [" + ", ".join(f'"{n}"' for n in required) + "]\n"
    (root / "wrangler.toml").write_text(text, encoding="utf-8")
    shutil.copytree(REPO / "migrations", root / "migrations", dirs_exist_ok=True)
    cfg = config.load(root / "wrangler.toml")
    if applied:
        migrations.apply(cfg, cfg.d1("DB"), None)
    else:
        d1.connect(d1_file(root), create=True).close()
    return root


def d1_file(root: Path) -> Path:
    return state.d1_path(root / ".wrangler" / "state", DB_ID)


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port free now, for a child process to bind.

    Not from the kernel's ephemeral range (`bind(0)` hands those to every other socket on the
    machine, so one could take it between this check and the child's bind): each xdist worker
    probes its own slice below that range, from a random start, and never hands a port out
    twice.
    """
    import random

    low, _ = _ephemeral_range()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    slot = int(worker) if worker.isdigit() else 0
    first = 10000 + (slot % 16) * 1000
    span = max(1, min(1000, low - first))
    start = random.SystemRandom().randrange(span)  # not the seeded global: pytest-randomly
    for step in range(span):
        port = first + (start + step) % span
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {first}..{first + span - 1}")


def wait_until(check, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll `check()` until it is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


@dataclass
class Running:
    """A server running in a thread of this process."""

    url: str
    port: int
    app: object
    requests: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def running_server(
    root: Path,
    *,
    cli_vars: dict[str, str] | None = None,
    reload: bool = False,
) -> Iterator[Running]:
    """`create_app` + `serve` on 127.0.0.1:<free port>, stopped (and joined) on exit."""
    cfg = config.load(root / "wrangler.toml")
    bindings = build_bindings(cfg, None, None, cli_vars)
    requests: list[str] = []
    events: list[tuple[str, str]] = []
    app = create_app(bindings, request_log=requests.append)
    listener = bind("127.0.0.1", 0)
    stop = threading.Event()

    def rebuild() -> Bindings:
        return build_bindings(config.load(cfg.path), None, None, cli_vars)

    thread = threading.Thread(
        target=server.serve,
        args=(app, listener),
        kwargs={
            "rebuild": rebuild if reload else None,
            "on_event": lambda level, message: events.append((level, message)),
            "stop": stop,
        },
        daemon=True,
    )
    thread.start()
    running = Running(f"http://127.0.0.1:{listener.port}", listener.port, app, requests, events)
    try:
        wait_until(lambda: httpx.get(running.url + "/health").status_code == 200)
        requests.clear()
        yield running
    finally:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive(), "server thread did not stop"


# --- the real CLI in a subprocess ---------------------------------------------------------

NULL_KEYRING = "keyring.backends.null.Keyring"
READY_OK = '{"status":"ok","checks":{"d1":"ok","kv":"ok","migrations":"ok"}}'


@contextmanager
def dev(root: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m worktime_cli dev ARGS` in `root`, terminated (and reaped) on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "worktime_cli", "dev", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A keyring that never answers, so no machine's real keyring leaks into the test.
        env={
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "PYTHON_KEYRING_BACKEND": NULL_KEYRING,
        },
    )
    port = args[args.index("--port") + 1] if "--port" in args else "8787"
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"dev exited with {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        return httpx.get(url + "/health").status_code == 200

    wait_until(up, timeout=20)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=5)  # "promptly": a hang fails here, not a timing check
    return proc.returncode, out, err
