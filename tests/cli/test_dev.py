"""`worktime dev` end to end: the real CLI in a subprocess, on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx

from tests.support.dev import (
    NULL_KEYRING,
    READY_OK,
    dev,
    free_port,
    make_project,
    stop,
    wait_ready,
    wait_until,
)


def test_dev_serves_health_and_ready_then_stops_on_sigterm(project):
    make_project(project)
    port = free_port()
    with dev(project, "--port", str(port)) as (proc, url):
        wait_ready(proc, url)
        health = httpx.get(url + "/health")
        head = httpx.head(url + "/health")
        ready = httpx.get(url + "/health/ready")
        (project / "migrations" / "0002_tags.sql").write_text("CREATE TABLE tags (id INTEGER);\n")
        pending = httpx.get(url + "/health/ready")
        code, out, err = stop(proc)
    assert (health.status_code, health.text) == (200, '{"status":"ok"}')
    assert health.headers["content-type"] == "application/json"
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "15")
    assert (ready.status_code, ready.text) == (200, READY_OK)
    assert pending.status_code == 503
    assert pending.json()["checks"]["migrations"] == "pending: 0002_tags.sql"
    assert code == 0
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"Ready on http://localhost:{port}"
    assert (
        lines[1]
        == "watching wrangler.toml, .dev.vars and the migrations for changes; Ctrl+C to stop"
    )
    assert lines[-1] == "stopped"
    requests = [
        line.rsplit(" (", 1)[0]
        for line in lines
        if line.split(" ")[0] in ("GET", "HEAD") and not line.startswith("GET /health 200")
    ]
    assert requests == [
        "HEAD /health 200 OK",
        "GET /health/ready 200 OK",
        "GET /health/ready 503 Service Unavailable",
    ]


def test_dev_sigint_exits_zero(project):
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "none") as (proc, url):
        wait_ready(proc, url)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    assert (proc.returncode, out, err) == (0, "", "")


def test_dev_binds_loopback_only(project):
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "warn") as (proc, url):
        wait_ready(proc, url)
        # Read from the kernel's socket table rather than probing other addresses: tests
        # send traffic to loopback only.
        listening = _listening_addresses(port)
        code, _out, err = stop(proc)
    assert listening == ["127.0.0.1"]
    assert (code, err) == (0, "")


def test_dev_explicit_busy_port_is_an_error(project):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with dev(project, "--port", str(port)) as (proc, _url):
            out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert out == ""
    assert err == (
        f"error: port {port} on 127.0.0.1 is already in use\n"
        "hint: stop what is using it, or pick another with --port\n"
    )


def test_dev_warns_at_startup_and_quiets_requests_at_warn(project):
    make_project(project, required=("JWT_SECRET", "GITHUB_CLIENT_SECRET"), applied=False)
    (project / ".dev.vars").write_text("GITHUB_CLIENT_SECRET=s3cr3t-value\n")
    port = free_port()
    with dev(project, "--port", str(port), "--log-level", "warn") as (proc, url):
        wait_ready(proc, url)
        httpx.get(url + "/health")
        code, _out, err = stop(proc)
    assert code == 0
    assert err == (
        "warning: required secrets resolve from nowhere: JWT_SECRET (set them with "
        "`worktime secret put NAME` or in .dev.vars)\n"
        "warning: secrets stored with `worktime secret put` are unavailable: no usable OS "
        f"keyring (keyring chose {NULL_KEYRING})\n"
        "warning: migrations not applied: pending: 0001_initial_schema.sql (run "
        "`worktime d1 migrations apply DB`)\n"
    )
    assert "s3cr3t-value" not in err


def test_dev_var_sets_cors_origins(project):
    port = free_port()
    origin = "chrome-extension://abcdef"
    with dev(project, "--port", str(port), "--var", f"CORS_ORIGINS:{origin}") as (proc, url):
        wait_ready(proc, url)
        allowed = httpx.options(url + "/health", headers={"Origin": origin})
        refused = httpx.options(url + "/health", headers={"Origin": "https://other.example"})
        stop(proc)
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in refused.headers


def test_dev_reloads_bindings_without_restart(project):
    make_project(project)
    port = free_port()
    with dev(project, "--port", str(port)) as (proc, url):
        wait_ready(proc, url)
        (project / ".dev.vars").write_text("CORS_ORIGINS=https://only.example\n")
        wait_until(
            lambda: (
                "access-control-allow-origin"
                not in httpx.get(url + "/health", headers={"Origin": "https://x.example"}).headers
            )
        )
        code, _out, err = stop(proc)
    assert code == 0
    assert ".dev.vars changed: bindings reloaded" in err.splitlines()


def test_dev_rejects_a_var_without_colon(cli):
    result = cli("dev", "--var", "NOCOLON")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --var NOCOLON: expected KEY:VALUE\n")


def test_dev_help_has_an_example(cli):
    result = cli("dev", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert "worktime dev --port 8788 --var CORS_ORIGINS:chrome-extension://abcdef" in result.stdout


def _listening_addresses(port: int) -> list[str]:
    """Local addresses with a LISTEN socket on `port`, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.append(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.append(address)
    return found


def test_dev_warns_when_listening_on_every_interface(project):
    port = free_port()
    everywhere = "0.0.0.0"  # noqa: S104  # the point of this test; stopped right after
    with dev(project, "--port", str(port), "--ip", everywhere, "--log-level", "warn") as (
        proc,
        url,
    ):
        wait_ready(proc, url)
        code, _out, err = stop(proc)
    assert code == 0
    assert err == (
        "warning: listening on every network interface: anyone on your network can reach "
        "this server\n"
    )
