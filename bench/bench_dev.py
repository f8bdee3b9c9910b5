"""`/health` throughput and p99 latency: `worktime dev` vs `wrangler dev`, same wrk run shape.

    python bench/run.py dev

Both serve `{"status":"ok"}` on /health; wrangler runs a minimal (Hono-free) module worker.
Request logging stays at each tool's default. Goals (issue 6): ≥ 5× wrangler's req/s, and
our p99 < 20 ms, with `wrk -t2 -c32 -d10s --latency`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.common import WORKTIME, Figure, wrangler

DURATION = os.environ.get("WORKTIME_BENCH_DURATION", "10s")
WORKER = """\
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/health") {
      return new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } });
    }
    return new Response('{"error":"not found"}', { status: 404 });
  },
};
"""


def _wrk() -> str | None:
    path = shutil.which("wrk")
    if path is None and shutil.which("apt-get") is not None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        path = shutil.which("wrk")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  # our own http://127.0.0.1 URL
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@contextmanager
def _serving(argv: Sequence[str], cwd: Path, url: str, log: Path, timeout: float) -> Iterator[None]:
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # its own group, so wrangler's workerd child stops with it
            env={**os.environ, "WRANGLER_SEND_METRICS": "false", "NO_COLOR": "1"},
        )
    try:
        _wait_health(url, proc, timeout)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _measure(wrk: str, url: str, duration: str = DURATION) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) from `wrk -t2 -c32 -d10s --latency`."""
    out = subprocess.run(
        [wrk, "-t2", "-c32", f"-d{duration}", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"non-2xx responses from {url}:\n{out}")
    return rps, p99


def run() -> list[Figure]:
    wrk = _wrk()
    if wrk is None:
        print("wrk not available (apt-get install wrk); skipping", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory(prefix="worktime-bench-dev-") as tmp:
        root = Path(tmp)
        ours_dir = root / "ours"
        ours_dir.mkdir()
        (ours_dir / "wrangler.toml").write_text('name = "worktime-backend"\n', encoding="utf-8")
        port = _free_port()
        url = f"http://127.0.0.1:{port}/health"
        with _serving(
            [*WORKTIME, "dev", "--port", str(port)], ours_dir, url, root / "ours.log", 30
        ):
            _measure(wrk, url, "2s")  # warm-up, as for the peer
            ours_rps, ours_p99 = _measure(wrk, url)

        peer_rps: float | None = None
        peer_p99: float | None = None
        launcher = wrangler()
        if launcher is not None:
            peer_dir = root / "peer"
            peer_dir.mkdir()
            (peer_dir / "index.js").write_text(WORKER, encoding="utf-8")
            (peer_dir / "wrangler.toml").write_text(
                'name = "health-peer"\nmain = "index.js"\ncompatibility_date = "2025-01-01"\n',
                encoding="utf-8",
            )
            port = _free_port()
            url = f"http://127.0.0.1:{port}/health"
            argv = [launcher, "dev", "--port", str(port), "--ip", "127.0.0.1"]
            with _serving(argv, peer_dir, url, root / "peer.log", 120):
                _measure(wrk, url, "2s")  # warm-up: workerd compiles the worker lazily
                peer_rps, peer_p99 = _measure(wrk, url)

    ratio = ours_rps / peer_rps if peer_rps else None
    return [
        Figure(
            "dev /health req/s (wrk -t2 -c32)",
            ours_rps,
            peer_rps,
            "wrangler",
            unit="req/s",
            goal="ratio >= 5",
            ok=None if ratio is None else ratio >= 5,
        ),
        Figure(
            "dev /health p99 latency",
            ours_p99,
            peer_p99,
            "wrangler",
            unit="ms",
            goal="ours < 20 ms",
            ok=ours_p99 < 20,
        ),
    ]
