"""`worktime dev` answers only its own Host names (plus --allowed-host), end to end."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.dev import dev, free_port, make_project, stop, wait_ready


def test_dev_refuses_foreign_hosts_and_answers_allowed_ones(project: Path) -> None:
    make_project(project)
    port = free_port()
    args = ("--port", str(port), "--allowed-host", "MyBox.Lan", "--log-level", "info")
    with dev(project, *args) as (proc, url):
        wait_ready(proc, url)
        evil = httpx.get(
            url + "/dashboard",
            headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
        )
        lan = httpx.get(url + "/health", headers={"Host": f"mybox.lan:{port}"})
        page = httpx.get(url + "/dashboard", headers={"Origin": "https://evil.example"})
        code, out, err = stop(proc)
    assert (evil.status_code, lan.status_code, page.status_code) == (403, 200, 200)
    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-origin" not in page.headers
    assert code == 0 and out == ""
    assert "GET /dashboard 403 Forbidden (" in err


def test_dev_allowed_host_must_be_a_bare_name(cli) -> None:
    result = cli("dev", "--allowed-host", "http://mybox.lan:8787")
    assert result.exit_code == 2
    assert result.stderr == (
        'error: --allowed-host "http://mybox.lan:8787" is not a host name or IP address\n'
        "hint: give the bare name the browser uses, without scheme or port, e.g. "
        "--allowed-host mybox.local\n"
    )


def test_dev_worker_refuses_allowed_host(cli) -> None:
    result = cli("dev", "--worker", "--allowed-host", "mybox.lan")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --allowed-host is for worktime's own dev server, not --worker\n"
    )


def test_inspector_port_needs_worker(cli) -> None:
    result = cli("dev", "--inspector-port", "9230")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --inspector-port is for --worker: worktime's own dev server runs no Worker "
        "to debug\nhint: worktime dev --worker --inspector-port 9230\n"
    )
