"""The dev server's app: a Starlette app over the local bindings.

`create_app(bindings)` is the Python analogue of the Worker's Hono app: the bindings (local
D1, local KV, resolved environment) hang off `app.state`, ready for the API endpoints of the
next phase; `reload_app` swaps them when the config, .dev.vars or the migrations change.

Like every core module this prints nothing. Starlette is imported inside the functions, so
only `worktime dev` pays for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from worktime_cli.dev.bindings import Bindings
from worktime_cli.dev.dashboard import dashboard_allowed, dashboard_page
from worktime_cli.dev.edge import HEALTH_BODY, Edge
from worktime_cli.dev.host_policy import HostPolicy, loopback_policy
from worktime_cli.dev.request_log import RequestLog

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response


class Current:
    """The live bindings; swapped whole on reload, so a request sees old or new, never a mix."""

    def __init__(self, bindings: Bindings, request_log: RequestLog | None) -> None:
        self.bindings = bindings
        self.request_log = request_log


def create_app(
    bindings: Bindings,
    *,
    request_log: RequestLog | None = None,
    dashboard_clients: str = "loopback",
    hosts: HostPolicy | None = None,
) -> Starlette:
    """The Starlette app: /health, /health/ready, /dashboard, JSON 404s, Hono-style CORS, request log.

    `request_log` receives one line per request (`GET /health 200 OK (1ms)`); None is quiet.
    `dashboard_clients`: "loopback" serves `/dashboard` only to clients on this machine (a
    server bound to 0.0.0.0 answers others 404), "any" to everyone, "none" to no one.
    `hosts`: the Host names every route answers (default: the loopback names); any other
    Host gets 403 (see `host_policy`).
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import Response
    from starlette.routing import Route

    current = Current(bindings, request_log)

    async def health(_request: Request) -> Response:
        return Response(HEALTH_BODY, media_type="application/json")

    async def health_ready(request: Request) -> Response:
        # Blocking SQLite reads: off the event loop, so /health stays fast meanwhile.
        result = await run_in_threadpool(current.bindings.ready)
        return _json(result.to_json(), 200 if result.ok else 503)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = HTTPStatus(exc.status_code).phrase.lower()
        return _json({"error": message}, exc.status_code, exc.headers)

    async def server_error(_request: Request, _exc: Exception) -> Response:
        return _json({"error": "internal server error"}, 500)

    async def dashboard(request: Request) -> Response:
        client = request.client.host if request.client is not None else ""
        if not dashboard_allowed(dashboard_clients, client):
            raise HTTPException(404)
        query = request.query_params
        status, headers, body = await run_in_threadpool(
            dashboard_page, current.bindings, query.get("from"), query.get("to")
        )
        return Response(body, status, headers=headers)

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/health/ready", health_ready, methods=["GET", "HEAD"]),
            Route("/dashboard", dashboard, methods=["GET", "HEAD"]),
        ],
        middleware=[Middleware(Edge, current=current, hosts=hosts or loopback_policy())],
        exception_handlers={HTTPException: http_error, 500: server_error},
    )
    app.state.current = current
    return app


def reload_app(app: Starlette, bindings: Bindings) -> None:
    """Swap the app's bindings; requests already running keep the ones they started with."""
    previous: Bindings = app.state.current.bindings
    app.state.current.bindings = bindings
    for store in previous.kv.values():
        store.close()  # a request still holding it just reopens it on next use


def _json(data: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    from starlette.responses import Response

    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")
