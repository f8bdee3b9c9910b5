"""The app's edge: one pure ASGI middleware for the Host check, CORS and the request log.

Every request passes here before Starlette's routing: a foreign Host is refused (403), CORS
is granted as Hono's `cors()` does (from CORS_ORIGINS, read per request), `/health` and
preflights are answered here, and each request gets its log line.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from worktime_cli.dev.host_policy import HostPolicy, host_of_header
from worktime_cli.dev.request_log import request_line

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from worktime_cli.dev.app import Current

CORS_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH"  # Hono cors() default allowMethods

HEALTH_BODY = b'{"status":"ok"}'


class Edge:
    """The Host check, CORS (as Hono's `cors()`) and the request log, as one pure ASGI middleware.

    Pure ASGI rather than BaseHTTPMiddleware: no extra task or body streaming per request,
    which is most of the cost of a /health hit. Not Starlette's TrustedHostMiddleware: it
    answers 400 in plain text (we answer 403, as Vite, in our JSON error shape), redirects
    to `www.` names, and as a separate layer it would either miss the /health fast path and
    preflights below or go unlogged.
    """

    def __init__(self, app: ASGIApp, current: Current, hosts: HostPolicy) -> None:
        self.app = app
        self.current = current
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        refusal = self._refusal(scope)
        if refusal is not None:
            # Before routing, CORS and the fast paths: no route answers a foreign Host, and
            # the refusal carries no CORS grant.
            status, body = refusal
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            self._log(scope, status, started)
            return
        allow_list = self.current.bindings.cors_origins
        origin = _header(scope, b"origin")
        cors: list[tuple[bytes, bytes]] = []
        if _own_page(scope["path"]):
            pass  # worktime's own pages are same-origin only: no grant, whatever CORS_ORIGINS says
        elif allow_list is None:
            cors.append((b"access-control-allow-origin", b"*"))
        else:
            if origin is not None and origin.decode("latin-1") in allow_list:
                cors.append((b"access-control-allow-origin", origin))
            cors.append((b"vary", b"Origin"))
        status_holder = [500]

        if scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
            # The liveness probe answers here, before Starlette's routing and exception
            # layers: same bytes as the route below, at a fraction of the cost per hit.
            headers = [*_HEALTH_HEADERS, *cors]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": HEALTH_BODY})
            self._log(scope, 200, started)
            return

        if scope["method"] == "OPTIONS":
            # Hono answers every OPTIONS as a preflight, before routing.
            headers = list(cors)
            if not _own_page(scope["path"]) and (
                allow_list is None
                or (origin is not None and origin.decode("latin-1") in allow_list)
            ):
                headers.append((b"access-control-allow-methods", CORS_METHODS.encode()))
                requested = _header(scope, b"access-control-request-headers")
                if requested:
                    names = b",".join(h.strip() for h in requested.split(b","))
                    headers.append((b"access-control-allow-headers", names))
                    headers.append((b"vary", b"Access-Control-Request-Headers"))
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            self._log(scope, 204, started)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), *cors]
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        finally:
            self._log(scope, status_holder[0], started)

    def _refusal(self, scope: Scope) -> tuple[int, bytes] | None:
        """(status, JSON body) when the Host header is missing, malformed or not ours."""
        header = _header(scope, b"host")
        host = None if header is None else host_of_header(header)
        if host is None:
            return 400, b'{"error":"bad request: a missing or malformed Host header"}'
        server = scope.get("server")
        local = str(server[0]) if server else None
        if self.hosts.allows(host, local):
            return None
        body = {
            "error": f"forbidden: {host} is not a name of this server",
            "hint": f"to allow it, start worktime dev with --allowed-host {host}",
        }
        return 403, json.dumps(body, separators=(",", ":")).encode()

    def _log(self, scope: Scope, status: int, started: float) -> None:
        log = self.current.request_log
        if log is None:
            return
        elapsed = round((time.perf_counter() - started) * 1000)
        # The path only, as wrangler logs it: query strings carry OAuth codes and tokens.
        # Decoded, so `%0A` is a real newline here and `%1b[31m` a real escape sequence:
        # control characters go back to their %XX form, or a request could forge log
        # lines or drive the terminal.
        log(request_line(scope["method"], scope["path"], status, elapsed))


# worktime's own pages, as opposed to the Worker-style API routes: never shared cross-origin.
OWN_PAGES = ("/dashboard",)


def _own_page(path: str) -> bool:
    return any(path == page or path.startswith(page + "/") for page in OWN_PAGES)


_HEALTH_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(HEALTH_BODY)).encode()),
)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
