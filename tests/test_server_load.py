"""Load and abuse: 10,000 requests over 50 connections plus 200 malformed ones, zero 5xx.

The server is the real `worktime dev` in a subprocess on 127.0.0.1; the client is raw
asyncio sockets, so what the server sees on the wire is exactly what is written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.dev import free_port, make_project, wait_until

CONNECTIONS = 50
REQUESTS = 10_000
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _keep_alive_client(port: int, count: int) -> list[int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses = []
    try:
        for _ in range(count):
            writer.write(REQUEST)
            status, body = await _read_response(reader)
            assert body == b'{"status":"ok"}'
            statuses.append(status)
    finally:
        writer.close()
        await writer.wait_closed()
    return statuses


async def _malformed(port: int, payload: bytes, *, close_early: bool = False) -> int | None:
    """Send `payload`; the status the server answers with, or None if it just closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        if close_early:
            await asyncio.sleep(0.05)  # a slowloris client that gives up half-way
            return None
        try:
            status, _ = await asyncio.wait_for(_read_response(reader), timeout=10)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        return status
    finally:
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()


def _malformed_payloads() -> list[tuple[bytes, bool]]:
    bad_lines = [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
        b"POST /health HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    oversized = [
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Many: b\r\n" * 5_000 + b"\r\n",
        b"GET /" + b"p" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    partial = [
        b"GET /health HTTP/1.1\r\nHost: x\r\n",
        b"GET /hea",
        b'POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":',
    ]
    payloads: list[tuple[bytes, bool]] = []
    payloads += [(bad_lines[i % len(bad_lines)], False) for i in range(70)]
    payloads += [(oversized[i % len(oversized)], False) for i in range(70)]
    payloads += [(partial[i % len(partial)], True) for i in range(60)]
    return payloads


async def _hammer(port: int) -> tuple[list[int], list[int | None]]:
    per_connection = REQUESTS // CONNECTIONS
    good = asyncio.gather(*(_keep_alive_client(port, per_connection) for _ in range(CONNECTIONS)))
    bad = asyncio.gather(*(_malformed(port, p, close_early=c) for p, c in _malformed_payloads()))
    results, bad_statuses = await asyncio.wait_for(asyncio.gather(good, bad), timeout=120)
    return [s for statuses in results for s in statuses], list(bad_statuses)


@pytest.mark.slow
def test_ten_thousand_requests_and_malformed_ones_never_5xx(project, tmp_path):
    make_project(project)
    port = free_port()
    log = tmp_path / "dev.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worktime_cli", "dev", "--port", str(port)],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"},
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(url + "/health").status_code == 200, timeout=20)
        good, bad = asyncio.run(_hammer(port))
        after = httpx.get(url + "/health")
        ready = httpx.get(url + "/health/ready")
        assert proc.poll() is None, "the server died"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(good) == REQUESTS
    assert set(good) == {200}
    answered = [s for s in bad if s is not None]
    assert all(s < 500 for s in answered), sorted(set(answered))
    assert answered, "no malformed request got an answer at all"
    assert (after.status_code, after.text) == (200, '{"status":"ok"}')
    assert ready.status_code == 200
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text
    statuses = [
        line.rsplit(" (", 1)[0].split(" ")[2]
        for line in text.splitlines()
        if line.startswith("GET /")
    ]
    assert statuses.count("200") >= REQUESTS
    assert not [s for s in statuses if s.startswith("5")]
