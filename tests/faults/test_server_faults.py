"""Issue 13, part 5: the dev server's address, request log and idle connections."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.dev import (
    dev,
    free_port,
    make_project,
    running_server,
    stop,
    wait_ready,
    wait_until,
)
from worktime_cli.dev import server
from worktime_cli.dev.app import create_app
from worktime_cli.dev.bindings import build_bindings, startup_warnings
from worktime_cli.dev.listener import Listener, bind, is_unspecified, resolve_ip
from worktime_cli.errors import WorktimeError
from worktime_cli.project import config

# Every spelling of "all interfaces" the kernel accepts; each must warn as 0.0.0.0 does.
EVERYWHERE = ["", "0", "00.0.0.0", "0.0.0.0", "0.0", "::", "::0", "0:0:0:0:0:0:0:0", "[::]"]  # noqa: S104  # resolved, not bound


@pytest.mark.parametrize("ip", EVERYWHERE)
def test_every_spelling_of_all_interfaces_resolves_to_unspecified(ip: str):
    _family, address = resolve_ip(ip)
    assert is_unspecified(address), address


@pytest.mark.parametrize("ip", ["localhost", "127.0.0.1", "::1", "[::1]", "127.0.0.2"])
def test_loopback_spellings_are_not_everywhere(ip: str):
    _family, address = resolve_ip(ip)
    assert not is_unspecified(address)


def test_bind_localhost_names_a_usable_url():
    listener = bind("localhost", 0)
    try:
        assert listener.shown_url == f"http://localhost:{listener.port}"
        assert listener.url == f"http://127.0.0.1:{listener.port}"
        assert not listener.everywhere
    finally:
        listener.sock.close()


@pytest.mark.parametrize(
    ("host", "url", "shown"),
    [
        ("0.0.0.0", "http://127.0.0.1:8787", "http://localhost:8787"),  # noqa: S104  # not bound
        ("::", "http://[::1]:8787", "http://localhost:8787"),
        ("::ffff:0.0.0.0", "http://[::1]:8787", "http://localhost:8787"),
        ("192.0.2.7", "http://192.0.2.7:8787", "http://192.0.2.7:8787"),
    ],
)
def test_urls_for_bound_addresses(host: str, url: str, shown: str):
    with socket.socket() as unbound:
        listener = Listener(unbound, host, 8787)
        assert (listener.url, listener.shown_url) == (url, shown)


def test_bind_ipv6_loopback_url_has_brackets():
    listener = bind("::1", 0)
    try:
        assert listener.url == listener.shown_url == f"http://[::1]:{listener.port}"
    finally:
        listener.sock.close()


@pytest.mark.parametrize("ip", ["a\x00b", "999.1.1.1", "x" * 300, "bad host\x1b[31m"])
def test_bad_ip_is_one_clear_error(ip: str):
    with pytest.raises(WorktimeError) as info:
        bind(ip, 0)
    message = info.value.message
    assert message.startswith("--ip ")
    assert message.endswith("is not an address or host name of this machine")
    assert "\x1b" not in message and "\x00" not in message


@pytest.mark.parametrize("ip", ["", "0", "::0"])
def test_dev_warns_for_every_spelling_and_prints_a_usable_url(project: Path, ip: str):
    port = free_port()
    # Listening on every interface is the point of this test; stopped right after.
    with dev(project, "--port", str(port), "--ip", ip) as (proc, url):
        wait_ready(proc, url)
        code, _out, err = stop(proc)
    assert code == 0
    lines = err.splitlines()
    assert (
        "warning: listening on every network interface: anyone on your network can reach "
        "this server"
    ) in lines
    assert f"Ready on http://localhost:{port}" in lines
    assert not any("http://:" in line or "http://[]" in line for line in lines)


# --- the request log --------------------------------------------------------------------


@pytest.fixture
def healthy(project: Path) -> Path:
    return make_project(project)


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("/x%0Aerror:%20injected", "/x%0Aerror: injected"),
        ("/%1b[31mred", "/%1B[31mred"),
        ("/a%0d%0aGET%20/forged", "/a%0D%0AGET /forged"),
        ("/bidi%E2%80%AEtxt", "/bidi%E2%80%AEtxt"),
        ("/nul%00", "/nul%00"),
        ("/del%7f", "/del%7F"),
    ],
)
def test_request_log_escapes_control_characters(healthy: Path, raw: str, logged: str):
    with (
        running_server(healthy) as running,
        socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock,
    ):
        sock.sendall(f"GET {raw} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass
        wait_until(lambda: running.requests)
    (line,) = running.requests
    assert line.startswith(f"GET {logged} 404 Not Found (")
    assert all(ch.isprintable() for ch in line), repr(line)


# --- idle connections -------------------------------------------------------------------


@contextmanager
def _serving(root: Path, keep_alive_s: float) -> Iterator[int]:
    bindings = build_bindings(config.load(root / "wrangler.toml"))
    app = create_app(bindings)
    listener = bind("127.0.0.1", 0)
    stopping = threading.Event()
    thread = threading.Thread(
        target=server.serve,
        args=(app, listener),
        kwargs={"stop": stopping, "keep_alive_s": keep_alive_s},
        daemon=True,
    )
    thread.start()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{listener.port}/health").status_code == 200)
        yield listener.port
    finally:
        stopping.set()
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_a_connection_that_never_sends_is_closed(healthy: Path):
    with (
        _serving(healthy, keep_alive_s=0.3) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        # Before the fix uvicorn armed its timer only after a response: this recv hung.
        assert sock.recv(1) == b""


def test_an_idle_keep_alive_connection_is_closed(healthy: Path):
    with (
        _serving(healthy, keep_alive_s=0.3) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while b'{"status":"ok"}' not in received:
            received += sock.recv(65536)
        assert sock.recv(1) == b""


def test_sigterm_is_prompt_with_many_idle_connections(project: Path):
    port = free_port()
    idle: list[socket.socket] = []
    with dev(project, "--port", str(port), "--log-level", "none") as (proc, url):
        wait_ready(proc, url)
        try:
            for _ in range(300):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            assert httpx.get(url + "/health").status_code == 200  # still answering
            code, out, err = stop(proc)  # communicate(timeout=5): a slow stop fails here
        finally:
            for sock in idle:
                sock.close()
    assert (code, out, err) == (0, "", "")


# --- the reload thread ------------------------------------------------------------------


def test_reload_survives_a_migrations_folder_that_is_a_symlink_loop(healthy: Path):
    """It died with a traceback (RuntimeError from resolve()) and the server ran on without reloads."""
    shutil.rmtree(healthy / "migrations")
    (healthy / "migrations").symlink_to("migrations")
    errors: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        with running_server(healthy, reload=True) as running:
            assert httpx.get(running.url + "/health/ready").status_code == 503
            (healthy / ".dev.vars").write_text("A=1\n")
            wait_until(lambda: ("info", ".dev.vars changed: bindings reloaded") in running.events)
            assert httpx.get(running.url + "/health").status_code == 200
    finally:
        threading.excepthook = previous
    assert errors == []
    assert not [event for event in running.events if event[0] == "error"]


def test_dev_startup_says_the_keyring_is_unencrypted(
    healthy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import keyring

    from tests.support.keyring_backends import PlaintextFileKeyring

    keyring.set_keyring(PlaintextFileKeyring(str(tmp_path / "keyring_pass.json")))
    monkeypatch.setenv(
        "PYTHON_KEYRING_BACKEND", "tests.support.keyring_backends.PlaintextFileKeyring"
    )
    bindings = build_bindings(config.load(healthy / "wrangler.toml"))
    warnings = startup_warnings(bindings)
    assert [w for w in warnings if "stored unencrypted" in w] == [
        "secret values are stored unencrypted: PYTHON_KEYRING_BACKEND chose "
        "tests.support.keyring_backends.PlaintextFileKeyring, and keyring rates it not "
        "recommended (priority 0.5)"
    ]


@pytest.mark.parametrize(("ip", "warned"), [("0", True), ("::0", True), ("localhost", False)])
def test_dev_worker_warns_for_every_spelling_too(
    cli, project: Path, monkeypatch: pytest.MonkeyPatch, ip: str, warned: bool
):
    """wrangler binds there itself; worktime still says what that means."""
    from worktime_cli.dev import runner, worker

    (project / "wrangler.toml").write_text('name = "worktime-backend"\nmain = "src/index.ts"\n')
    (project / "src").mkdir()
    (project / "src" / "index.ts").write_text("export default {};\n")
    launcher = project / "wrangler"
    launcher.write_text("#!/bin/sh\nexit 0\n")
    launcher.chmod(0o755)
    monkeypatch.setenv("WORKTIME_WRANGLER", str(launcher))
    monkeypatch.setattr(worker, "require_node", lambda *_args: None)  # wrangler is not started
    started: list[list[str]] = []

    def run(argv: list[str], _env: object, **_options: object) -> int:
        started.append(list(argv))
        return 0

    monkeypatch.setattr(runner, "run", run)
    result = cli("dev", "--worker", "--ip", ip, "--log-level", "warn")
    assert result.exit_code == 0, result.stderr
    assert started and "--ip" in started[0]
    warning = (
        "warning: listening on every network interface: anyone on your network can reach "
        "this server"
    )
    assert (warning in result.stderr.splitlines()) is warned, result.stderr
