"""The HTML report: self-contained, escaped, charts present; served at /dashboard on loopback only;
opened in a real headless Chromium that must not send a single request."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.admin.support import add_session, add_user
from tests.conftest import require_tool
from tests.support.dev import d1_file, make_project, running_server
from worktime_cli.admin import demo, html, report, tokens
from worktime_cli.admin.targets import SQLiteDatabase
from worktime_cli.dev.app import create_app
from worktime_cli.dev.bindings import build_bindings
from worktime_cli.kv import LocalKV


class _Canary:
    """A local HTTP server that records every request: the page must never reach it."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def canary() -> Iterator[_Canary]:
    c = _Canary()
    c.thread.start()
    try:
        yield c
    finally:
        c.server.shutdown()
        c.server.server_close()


def _seeded(project: Path, canary_url: str) -> SQLiteDatabase:
    from worktime_cli.project import config

    make_project(project)
    db = SQLiteDatabase(d1_file(project))
    data = demo.generate(
        users=4, days=14, seed=3, end=dt.date(2024, 6, 30), now=dt.datetime(2024, 6, 30, 18)
    )
    cfg = config.load(project / "wrangler.toml")
    with LocalKV(cfg).namespace("KV") as ns:
        demo.seed(db, ns, tokens.layout(cfg), data)
    # Hostile data: markup in a repo name must stay text, and could only reach the canary.
    evil = add_user(db, "mallory")
    add_session(db, evil, repo_owner=f'<img src="{canary_url}/leak">', repo_name="x",
                start_time="2024-06-20 10:00:00", duration_seconds=600)  # fmt: skip
    add_session(db, evil, repo_owner="acme", repo_name="api", status="active",
                start_time="2024-06-30 17:00:00")  # fmt: skip
    from worktime_cli.admin import stats

    stats.rebuild(db, stats.Selection())
    return db


def test_page_is_self_contained_and_escaped(project: Path, canary: _Canary) -> None:
    db = _seeded(project, canary.url)
    page = html.page(report.dashboard(db, report.Filters("2024-06-17", "2024-06-30")))
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert f'<img src="{canary.url}' not in page  # escaped: shown as text
    assert "&lt;img src=" in page
    assert f'http-equiv="Content-Security-Policy" content="{html.CSP}"' in page
    assert 'data-chart="time per day" data-bars="14"' in page
    assert 'data-chart="time per repo"' in page and 'data-chart="top PRs"' in page
    assert "mallory" in page  # the active session is listed


def test_dashboard_on_loopback_only(project: Path, canary: _Canary) -> None:
    _seeded(project, canary.url).close()
    with running_server(project) as running:
        answer = httpx.get(running.url + "/dashboard?from=2024-06-17&to=2024-06-30")
        assert answer.status_code == 200
        assert answer.headers["content-security-policy"] == html.CSP
        assert 'data-chart="time per day" data-bars="14"' in answer.text
        bad = httpx.get(running.url + "/dashboard?from=2024-06-31")
        assert bad.status_code == 400 and "is not a date" in bad.text
    from worktime_cli.project import config

    bindings = build_bindings(config.load(project / "wrangler.toml"))

    def status(app: object, client: str) -> int:
        async def get() -> int:
            transport = httpx.ASGITransport(app=app, client=(client, 50000))  # type: ignore[arg-type]
            async with httpx.AsyncClient(
                transport=transport, base_url="http://localhost"
            ) as session:
                return (await session.get("/dashboard")).status_code

        return asyncio.run(get())

    # A peer on the LAN (the server bound to 0.0.0.0) is not served unless asked.
    assert status(create_app(bindings), "192.168.1.20") == 404
    assert status(create_app(bindings), "::1") == 200
    assert status(create_app(bindings, dashboard_clients="any"), "192.168.1.20") == 200
    assert status(create_app(bindings, dashboard_clients="none"), "127.0.0.1") == 404


@pytest.mark.slow
def test_chromium_renders_charts_and_sends_no_request(
    project: Path, tmp_path: Path, canary: _Canary
) -> None:
    browser = require_tool("chromium", "opens the HTML report in a real headless browser")
    db = _seeded(project, canary.url)
    text = html.page(report.dashboard(db, report.Filters()))

    def render(name: str, content: str) -> str:
        page = tmp_path / name
        page.write_text(content, encoding="utf-8")
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={tmp_path / ('profile-' + name)}",
             "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    dom = render("report.html", text)
    assert 'data-chart="time per day"' in dom and "<rect" in dom
    # The period is in the title as dates, and the daily chart has a scale with its unit.
    assert "<h1>worktime report, 2024-06-17 – 2024-06-30</h1>" in dom
    assert "first day" not in dom and "last day" not in dom
    assert ">hours per day</text>" in dom and ">0 h</text>" in dom
    assert ">2024-06-17</text>" in dom and ">2024-06-30</text>" in dom
    assert dom.count('class="bar"') >= 14
    assert "&lt;img src=" in dom  # the browser saw the hostile repo name as text
    assert canary.hits == []  # nothing left the page

    # The CSP is a second wall: even markup that escaped escaping cannot fetch anything…
    probe = f'<img src="{canary.url}/csp-probe"></body>'
    render("injected.html", text.replace("</body>", probe))
    assert canary.hits == []
    # …while the same tag without our CSP does reach the canary (so the canary works).
    without_csp = text.replace(
        f'<meta http-equiv="Content-Security-Policy" content="{html.CSP}">', ""
    )
    render("control.html", without_csp.replace("</body>", probe))
    assert canary.hits == ["/csp-probe"]


def test_the_period_and_the_scale_are_on_the_page(project: Path, canary: _Canary) -> None:
    db = _seeded(project, canary.url)
    text = html.page(report.dashboard(db, report.Filters()))
    assert "<title>worktime report, 2024-06-17 – 2024-06-30</title>" in text
    assert '<p class="meta">2024-06-17 – 2024-06-30 · ' in text
    filtered = html.page(
        report.dashboard(db, report.Filters(date_from="2024-06-20", date_to="2024-06-25"))
    )
    assert "<h1>worktime report, 2024-06-20 – 2024-06-25</h1>" in filtered
    # Gridlines at round hours up to at least the busiest day, each labelled with its unit.
    ticks = [float(v) for v in re.findall(r'class="tick"[^>]*>([0-9.]+) h<', text)]
    assert ticks[0] == 0 and len(ticks) >= 3
    steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    busiest = max(
        line.total_seconds for line in report.dashboard(db, report.Filters()).per_day.lines
    )
    assert ticks[-1] * 3600 >= busiest


def test_an_empty_report_says_so_without_a_period(project: Path) -> None:
    make_project(project)
    with SQLiteDatabase(d1_file(project)) as db:
        text = html.page(report.dashboard(db, report.Filters()))
    assert "<h1>worktime report</h1>" in text
    assert "no tracked time yet" in text and "first day" not in text
