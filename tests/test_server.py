"""The dev server's app, bindings, readiness, port selection and reload, on a real socket."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from tests.support.dev import d1_file, make_project, running_server, wait_until
from worktime_cli.dev.bindings import build_bindings, startup_warnings
from worktime_cli.dev.listener import bind
from worktime_cli.errors import WorktimeError
from worktime_cli.project import config

READY_OK = '{"status":"ok","checks":{"d1":"ok","kv":"ok","migrations":"ok"}}'


@pytest.fixture
def healthy(project):
    return make_project(project)


def test_health_exact_body_and_headers(healthy):
    with running_server(healthy) as srv:
        response = httpx.get(srv.url + "/health")
    assert response.status_code == 200
    assert response.content == b'{"status":"ok"}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "15"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "server" not in response.headers


def test_head_health_has_headers_and_no_body(healthy):
    with running_server(healthy) as srv:
        response = httpx.head(srv.url + "/health")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "15"


def test_unknown_path_and_wrong_method_answer_json(healthy):
    with running_server(healthy) as srv:
        missing = httpx.get(srv.url + "/nope")
        wrong = httpx.post(srv.url + "/health")
    assert (missing.status_code, missing.text) == (404, '{"error":"not found"}')
    assert missing.headers["content-type"] == "application/json"
    assert (wrong.status_code, wrong.text) == (405, '{"error":"method not allowed"}')
    assert sorted(wrong.headers["allow"].split(", ")) == ["GET", "HEAD"]


def test_ready_ok_then_503_when_a_migration_is_pending(healthy):
    with running_server(healthy) as srv:
        ok = httpx.get(srv.url + "/health/ready")
        (healthy / "migrations" / "0002_add_tags.sql").write_text(
            "CREATE TABLE tags (id INTEGER);\n"
        )
        pending = httpx.get(srv.url + "/health/ready")
    assert (ok.status_code, ok.text) == (200, READY_OK)
    assert ok.headers["content-type"] == "application/json"
    assert pending.status_code == 503
    assert pending.json() == {
        "status": "error",
        "checks": {"d1": "ok", "kv": "ok", "migrations": "pending: 0002_add_tags.sql"},
    }


def test_ready_503_names_missing_secrets_but_never_values(project):
    make_project(project, required=("JWT_SECRET", "GITHUB_CLIENT_ID"))
    (project / ".dev.vars").write_text("GITHUB_CLIENT_ID=id-value-1234\n")
    with running_server(project) as srv:
        response = httpx.get(srv.url + "/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "d1": "ok",
        "kv": "ok",
        "migrations": "ok",
        "secrets": "missing: JWT_SECRET",
    }
    assert "id-value-1234" not in response.text


def test_ready_503_on_unreadable_database(healthy):
    d1_file(healthy).write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        d1_file(healthy).with_name(d1_file(healthy).name + suffix).unlink(missing_ok=True)
    with running_server(healthy) as srv:
        response = httpx.get(srv.url + "/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["d1"] == "DB: unreadable database (file is not a database)"
    assert checks["kv"] == "ok"


def test_ready_503_when_the_database_was_never_created(project):
    make_project(project)
    d1_file(project).unlink()
    with running_server(project) as srv:
        response = httpx.get(srv.url + "/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "d1": "DB: local database does not exist (run `worktime init`)",
        "kv": "ok",
        "migrations": "ok",
    }


def test_cors_preflight_allows_every_origin_by_default(healthy):
    with running_server(healthy) as srv:
        response = httpx.options(
            srv.url + "/health",
            headers={
                "Origin": "https://example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type, Authorization",
            },
        )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET,HEAD,PUT,POST,DELETE,PATCH"
    assert response.headers["access-control-allow-headers"] == "Content-Type,Authorization"
    assert response.headers["vary"] == "Access-Control-Request-Headers"


def test_cors_origins_allow_list(healthy):
    extension = "chrome-extension://abcdefghijklmnop"
    with running_server(
        healthy, cli_vars={"CORS_ORIGINS": f"{extension}, https://b.example"}
    ) as srv:
        allowed = httpx.options(srv.url + "/health", headers={"Origin": extension})
        refused = httpx.options(srv.url + "/health", headers={"Origin": "https://evil.example"})
        get_allowed = httpx.get(srv.url + "/health", headers={"Origin": "https://b.example"})
        get_refused = httpx.get(srv.url + "/health", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == extension
    assert allowed.headers["access-control-allow-methods"] == "GET,HEAD,PUT,POST,DELETE,PATCH"
    assert allowed.headers["vary"] == "Origin"
    assert refused.status_code == 204
    assert not [h for h in refused.headers if h.startswith("access-control-")]
    assert get_allowed.headers["access-control-allow-origin"] == "https://b.example"
    assert get_refused.status_code == 200
    assert "access-control-allow-origin" not in get_refused.headers


def test_one_log_line_per_request_in_wranglers_format(healthy):
    with running_server(healthy) as srv:
        httpx.get(srv.url + "/health")
        httpx.get(srv.url + "/nope?code=oauth-code-value")
        httpx.head(srv.url + "/health")
    assert len(srv.requests) == 3
    # The path only: query strings (OAuth codes) never reach the log.
    pattern = r"(GET /health 200 OK|GET /nope 404 Not Found|HEAD /health 200 OK) \(\d+ms\)"
    for line in srv.requests:
        assert re.fullmatch(pattern, line), line


def test_bindings_expose_d1_kv_and_vars(healthy):
    cfg = config.load(healthy / "wrangler.toml")
    bindings = build_bindings(cfg, None, None, {"EXTRA": "1"})
    assert bindings.vars["ENVIRONMENT"] == "development"
    assert bindings.vars["EXTRA"] == "1"
    assert set(bindings.kv) == {"KV"}
    conn = bindings.d1["DB"]()
    try:
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    finally:
        conn.close()
    assert bindings.cors_origins is None


def test_startup_warnings_name_missing_secrets_and_pending_migrations(project):
    make_project(project, required=("JWT_SECRET",), applied=False)
    cfg = config.load(project / "wrangler.toml")
    warnings = startup_warnings(build_bindings(cfg))
    assert warnings == [
        "required secrets resolve from nowhere: JWT_SECRET "
        "(set them with `worktime secret put NAME` or in .dev.vars)",
        "migrations not applied: pending: 0001_initial_schema.sql "
        "(run `worktime d1 migrations apply DB`)",
    ]


def test_reload_swaps_bindings_when_dev_vars_change(healthy):
    with running_server(healthy, reload=True) as srv:
        before = httpx.get(srv.url + "/health", headers={"Origin": "https://x.example"})
        (healthy / ".dev.vars").write_text("CORS_ORIGINS=https://only.example\n")
        wait_until(
            lambda: (
                "access-control-allow-origin"
                not in httpx.get(
                    srv.url + "/health", headers={"Origin": "https://x.example"}
                ).headers
            )
        )
    assert before.headers["access-control-allow-origin"] == "*"
    assert ("info", ".dev.vars changed: bindings reloaded") in srv.events


def test_reload_keeps_bindings_when_wrangler_toml_breaks(healthy):
    with running_server(healthy, reload=True) as srv:
        (healthy / "wrangler.toml").write_text("name = \n")
        wait_until(lambda: any(level == "warn" for level, _ in srv.events))
        still = httpx.get(srv.url + "/health/ready")
    _level, message = srv.events[0]
    assert message.startswith("wrangler.toml changed but the bindings were kept: ")
    assert "invalid TOML" in message
    assert still.status_code == 200


def test_bind_localhost_is_loopback():
    listener = bind("localhost", 0)
    try:
        assert listener.sock.getsockname()[0] == "127.0.0.1"
        assert listener.url == f"http://127.0.0.1:{listener.port}"
        assert listener.shown_url == f"http://localhost:{listener.port}"
    finally:
        listener.sock.close()


def test_bind_explicit_busy_port_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(WorktimeError) as info:
            bind("127.0.0.1", port)
    assert info.value.message == f"port {port} on 127.0.0.1 is already in use"
    assert info.value.hint == "stop what is using it, or pick another with --port"


def test_bind_default_port_moves_to_the_next_free_one(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setattr("worktime_cli.dev.listener.DEFAULT_PORT", port)
        try:
            listener = bind("127.0.0.1", None)
        except WorktimeError:
            pytest.skip("the ports after the busy one are taken too")
        try:
            assert listener.taken[0] == port
            assert listener.port > port
            assert listener.port == port + len(listener.taken)
        finally:
            listener.sock.close()


def test_ready_503_on_unreadable_kv_index(healthy):
    from tests.support.dev import KV_ID
    from worktime_cli.project import state

    index = state.kv_index_path(healthy / ".wrangler" / "state", KV_ID)
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_bytes(b"garbage, not sqlite" * 200)
    with running_server(healthy) as srv:
        response = httpx.get(srv.url + "/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["d1"] == "ok"
    assert checks["kv"].startswith("KV: ")
    # The wording is the KV store's; what matters here is that the index file is named.
    assert index.name in checks["kv"]
