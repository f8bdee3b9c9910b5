"""The dev server answers only its own Host names, and its dashboard is same-origin only.

Real HTTP on a real uvicorn server, with the headers a hostile page (or a DNS-rebinding page)
makes a browser send: a foreign Origin, and the attacker's own name as Host.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.dev import make_project, running_server, wait_until
from worktime_cli.dev import host_policy, server
from worktime_cli.dev.app import create_app
from worktime_cli.dev.bindings import build_bindings
from worktime_cli.dev.listener import bind
from worktime_cli.project import config

EVIL = "https://evil.example"


@pytest.fixture
def healthy(project: Path) -> Path:
    return make_project(project)


def _cors_headers(response: httpx.Response) -> list[str]:
    return [name for name in response.headers if name.startswith("access-control-")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/health"),
        ("HEAD", "/health"),
        ("GET", "/health/ready"),
        ("GET", "/dashboard"),
        ("GET", "/nope"),
        ("OPTIONS", "/dashboard"),
        ("OPTIONS", "/health"),
    ],
)
def test_a_foreign_host_is_refused_on_every_route(healthy: Path, method: str, path: str) -> None:
    with running_server(healthy) as srv:
        # DNS rebinding: the attacker's name now points at 127.0.0.1, so the browser sends
        # it as Host, and the page is same-origin with it.
        rebound = f"attacker.example:{srv.port}"
        response = httpx.request(
            method,
            srv.url + path,
            headers={
                "Host": rebound,
                "Origin": f"http://{rebound}",
                "Access-Control-Request-Method": "GET",
            },
        )
    assert response.status_code == 403
    assert _cors_headers(response) == []
    if method != "HEAD":
        assert response.json() == {
            "error": "forbidden: attacker.example is not a name of this server",
            "hint": "to allow it, start worktime dev with --allowed-host attacker.example",
        }
    assert srv.requests[0].startswith(f"{method} {path} 403 Forbidden (")


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "localhost", "LocalHost.:{port}", "[::1]:{port}"],
)
def test_the_loopback_names_are_answered(healthy: Path, host: str) -> None:
    with running_server(healthy) as srv:
        response = httpx.get(srv.url + "/health", headers={"Host": host.format(port=srv.port)})
    assert (response.status_code, response.text) == (200, '{"status":"ok"}')


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /dashboard HTTP/1.0\r\n\r\n",  # no Host at all
        b"GET /dashboard HTTP/1.1\r\nHost: evil.example@127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /dashboard HTTP/1.1\r\nHost: 127.0.0.1:80:80\r\nConnection: close\r\n\r\n",
        b"GET /dashboard HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n",
    ],
)
def test_a_missing_or_malformed_host_is_a_bad_request(healthy: Path, request_line: bytes) -> None:
    with running_server(healthy) as srv:
        answer = _raw(srv.port, request_line)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"400"
    assert b"access-control-" not in head.lower()
    assert body == b'{"error":"bad request: a missing or malformed Host header"}'


def test_the_dashboard_grants_no_cors_even_when_every_origin_is_allowed(healthy: Path) -> None:
    with running_server(healthy) as srv:
        page = httpx.get(srv.url + "/dashboard", headers={"Origin": EVIL})
        preflight = httpx.options(
            srv.url + "/dashboard",
            headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"},
        )
        api = httpx.get(srv.url + "/health", headers={"Origin": EVIL})
    assert page.status_code == 200
    assert _cors_headers(page) == []
    assert page.headers["cross-origin-resource-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert preflight.status_code == 204
    assert _cors_headers(preflight) == []
    # The Worker-style API keeps the Worker's CORS settings (none: every origin).
    assert api.headers["access-control-allow-origin"] == "*"


def test_the_dashboard_is_not_shared_with_the_workers_allow_list(healthy: Path) -> None:
    extension = "chrome-extension://abcdefghijklmnop"
    with running_server(healthy, cli_vars={"CORS_ORIGINS": extension}) as srv:
        page = httpx.get(srv.url + "/dashboard", headers={"Origin": extension})
        preflight = httpx.options(
            srv.url + "/dashboard",
            headers={"Origin": extension, "Access-Control-Request-Method": "GET"},
        )
        api = httpx.get(srv.url + "/health", headers={"Origin": extension})
    assert page.status_code == 200
    assert _cors_headers(page) == []
    assert _cors_headers(preflight) == []
    assert api.headers["access-control-allow-origin"] == extension


@contextmanager
def _everywhere_server(root: Path, extra: tuple[str, ...] = ()) -> Iterator[int]:
    """A server on 0.0.0.0 with the policy `worktime dev --ip 0.0.0.0` computes."""
    bindings = build_bindings(config.load(root / "wrangler.toml"))
    listener = bind("0.0.0.0", 0)  # noqa: S104  # the case under test
    policy = host_policy.server_policy("0.0.0.0", listener.host, listener.everywhere, extra)  # noqa: S104
    app = create_app(bindings, hosts=policy)
    stop = threading.Event()
    thread = threading.Thread(
        target=server.serve, args=(app, listener), kwargs={"stop": stop}, daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{listener.port}/health").status_code == 200)
        yield listener.port
    finally:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_on_every_interface_the_machines_name_and_addresses_are_answered(healthy: Path) -> None:
    hostname = socket.gethostname()
    with _everywhere_server(healthy, extra=("mybox.lan",)) as port:

        def status(address: str, host: str) -> int:
            url = f"http://{address}:{port}/health"
            return httpx.get(url, headers={"Host": host}).status_code

        by_name = status("127.0.0.1", f"{hostname}:{port}")
        # The address the connection arrived on is this machine's: 127.0.0.2 is one.
        by_address = status("127.0.0.2", f"127.0.0.2:{port}")
        extra = status("127.0.0.1", "mybox.lan")
        other_address = status("127.0.0.2", f"10.9.8.7:{port}")
        foreign = status("127.0.0.1", "evil.example")
    assert (by_name, by_address, extra) == (200, 200, 200)
    assert (other_address, foreign) == (403, 403)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        (b"localhost", "localhost"),
        (b"localhost:8787", "localhost"),
        (b"LOCALHOST.:8787", "localhost"),
        (b"localhost:", "localhost"),
        (b"[::1]:8787", "::1"),
        (b"[0:0:0:0:0:0:0:1]", "::1"),
        (b"[::ffff:127.0.0.1]:1", "127.0.0.1"),
        (b"127.0.0.1:8787", "127.0.0.1"),
        (b"my-box.example.com", "my-box.example.com"),
        (b"", None),
        (b":8787", None),
        (b"::1", None),  # an IPv6 address must be bracketed
        (b"[localhost]", None),
        (b"localhost:80a", None),
        (b"evil.example@localhost", None),
        (b"local host", None),
        (b"caf\xc3\xa9.example", None),
        (b"[::1]x", None),
    ],
)
def test_host_header_parsing(header: bytes, host: str | None) -> None:
    assert host_policy.host_of_header(header) == host


def test_allowed_host_values_are_checked() -> None:
    assert host_policy.checked_allowed_host("MyBox.Local") == "mybox.local"
    assert host_policy.checked_allowed_host("[::1]") == "::1"
    for bad in ("http://mybox", "mybox:8787", "", "a b"):
        with pytest.raises(Exception, match="is not a host name or IP address"):
            host_policy.checked_allowed_host(bad)
