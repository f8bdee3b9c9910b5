"""The dev server: a Starlette app over the local bindings, served by uvicorn.

`create_app(bindings)` is the Python analogue of the Worker's Hono app: the bindings (local
D1, local KV, resolved environment) hang off `app.state`, ready for the API endpoints of the
next phase. `serve()` runs it with uvicorn on a socket bound by `bind()`, reloads the
bindings when wrangler.toml, .dev.vars or the migrations change, and stops within a second
on Ctrl+C or SIGTERM.

Like every core module this prints nothing: the CLI passes callbacks for what to say.
Starlette and uvicorn are imported here, so only `worktime dev` pays for them.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import json
import re
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from worktime_cli import d1 as d1mod
from worktime_cli import kv, migrations
from worktime_cli.dev.host_policy import HostPolicy, host_of_header, loopback_policy
from worktime_cli.errors import WorktimeError
from worktime_cli.project import state
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.secrets import environment, scrub

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_PORT = 8787
PORT_ATTEMPTS = 10  # as wrangler: the default port, then up to 10 more
SHUTDOWN_GRACE_S = 0.5  # in-flight requests get this long; the whole stop stays under 1 s
# An idle connection (none sent yet, or between keep-alive requests) is closed after this
# long: thousands of idle sockets otherwise exhaust the fd limit (uvicorn's default value).
KEEP_ALIVE_S = 5.0
CORS_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH"  # Hono cors() default allowMethods

HEALTH_BODY = b'{"status":"ok"}'
READY_PROBE_KEY = "__worktime_ready_probe__"
EventLog = Callable[[str, str], None]  # (level, message): "info" | "warn" | "error"
RequestLog = Callable[[str], None]


# --- bindings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    """The outcome of `/health/ready`: every check is "ok" or names what is wrong."""

    checks: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(value == "ok" for value in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "error", "checks": self.checks}


@dataclass(frozen=True)
class Bindings:
    """What a request handler can reach: the Worker's `env`, locally.

    `d1` maps each binding (e.g. "DB") to a factory of fresh D1 connections: sqlite3
    connections are not shared between the threads Starlette runs sync code in.
    """

    config: Config
    state_root: Path
    d1: Mapping[str, Callable[[], d1mod.D1Connection]]
    kv: Mapping[str, kv.KVStore]
    env: environment.Environment
    ready: Callable[[], Readiness] = field(repr=False)

    @property
    def vars(self) -> Mapping[str, str]:
        """Vars and secrets by name (values: never log or print them)."""
        return self.env.values

    @functools.cached_property
    def cors_origins(self) -> frozenset[str] | None:
        """The CORS_ORIGINS allow-list, or None when every origin is allowed (read per request)."""
        raw = self.env.values.get("CORS_ORIGINS", "")
        origins = frozenset(o.strip() for o in raw.split(",") if o.strip())
        return origins or None

    def watched_files(self) -> list[Path]:
        """The files whose change means the bindings must be rebuilt."""
        root = self.config.root
        dirs = {_resolved(root / db.migrations_dir) for db in self.config.d1_databases}
        return [self.config.path, root / ".dev.vars", *sorted(dirs)]


def _resolved(path: Path) -> Path:
    # A migrations folder that is a symlink loop makes resolve() raise RuntimeError (3.11)
    # or OSError; it is reported by /health/ready, and watching it as given is enough.
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def build_bindings(
    cfg: Config,
    persist_to: Path | None = None,
    env: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
) -> Bindings:
    """Resolve the environment and wire the local D1 databases and KV namespaces."""
    root = state.root(cfg, persist_to)
    resolved = environment.resolve(cfg, env=env, cli_vars=cli_vars)
    factories = {
        db.binding: _connection_factory(state.d1_path(root, db.local_id)) for db in cfg.d1_databases
    }
    stores = {ns.binding: kv.KVStore(root, ns.local_id) for ns in cfg.kv_namespaces}

    def ready() -> Readiness:
        return readiness(cfg, persist_to, resolved, stores)

    return Bindings(config=cfg, state_root=root, d1=factories, kv=stores, env=resolved, ready=ready)


def _connection_factory(path: Path) -> Callable[[], d1mod.D1Connection]:
    def open_connection() -> d1mod.D1Connection:
        return d1mod.connect(path)

    return open_connection


def readiness(
    cfg: Config,
    persist_to: Path | None,
    env: environment.Environment,
    stores: Mapping[str, kv.KVStore],
) -> Readiness:
    """Check the local D1 files, the KV stores, the migrations and the required secrets.

    A failed check names the problem (binding, migration file, secret name), never a value.
    """
    root = state.root(cfg, persist_to)
    problems_d1: list[str] = []
    for db in cfg.d1_databases:
        problem = _d1_problem(state.d1_path(root, db.local_id), db)
        if problem:
            problems_d1.append(problem)
    problems_kv = [p for binding, store in stores.items() if (p := _kv_problem(binding, store))]
    problems_migrations: list[str] = []
    for db in cfg.d1_databases:
        if not state.d1_path(root, db.local_id).is_file():
            continue  # reported under "d1"; every migration would read as pending
        problem = _migrations_problem(cfg, db, persist_to)
        if problem:
            problems_migrations.append(problem)
    checks = {
        "d1": "; ".join(problems_d1) or "ok",
        "kv": "; ".join(problems_kv) or "ok",
        "migrations": "; ".join(problems_migrations) or "ok",
    }
    # Only present when failing, so a healthy project answers the documented body exactly.
    if env.missing:
        checks["secrets"] = "missing: " + ", ".join(env.missing)
    return Readiness(checks)


def _d1_problem(path: Path, db: D1Binding) -> str | None:
    if not path.is_file():
        return f"{db.binding}: local database does not exist (run `worktime init`)"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=1)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{db.binding}: unreadable database ({exc})"
    return None


def _kv_problem(binding: str, store: kv.KVStore) -> str | None:
    # A read of a key that never exists: it opens the index (miniflare creates it on first
    # write, so a store never written is fine) without touching user data.
    try:
        store.get(READY_PROBE_KEY)
    except WorktimeError as exc:
        return f"{binding}: {exc.message}"
    return None


def _migrations_problem(cfg: Config, db: D1Binding, persist_to: Path | None) -> str | None:
    try:
        status = migrations.status(cfg, db, persist_to)
    except WorktimeError as exc:
        return f"{db.binding}: {exc.message}"
    parts = []
    # "unverified" (applied by wrangler, no checksum recorded) is not a failure: the team
    # may mix both tools on one checkout.
    for label, found in (
        ("pending", status.pending),
        ("drifted", status.drifted),
        ("missing", status.missing),
    ):
        if found:
            parts.append(f"{label}: {', '.join(m.name for m in found)}")
    if not parts:
        return None
    prefix = f"{db.binding} " if len(cfg.d1_databases) > 1 else ""
    return prefix + "; ".join(parts)


def startup_warnings(bindings: Bindings) -> list[str]:
    """What `worktime dev` should warn about before serving: names only, never values."""
    env = bindings.env
    # An --env nothing defines, an unencrypted keyring the user named: as `dev --worker` says.
    warnings = list(env.warnings)
    if env.missing:
        warnings.append(
            "required secrets resolve from nowhere: "
            + ", ".join(env.missing)
            + " (set them with `worktime secret put NAME` or in .dev.vars)"
        )
    if env.missing and env.keyring_error:
        # Only worth saying when something is missing: with .dev.vars supplying every
        # secret, an unusable keyring changes nothing.
        warnings.append(
            f"secrets stored with `worktime secret put` are unavailable: {env.keyring_error}"
        )
    ready = bindings.ready()
    if ready.checks["migrations"] != "ok":
        warnings.append(
            f"migrations not applied: {ready.checks['migrations']} "
            "(run `worktime d1 migrations apply DB`)"
        )
    if ready.checks["d1"] != "ok":
        warnings.append(f"D1: {ready.checks['d1']}")
    if ready.checks["kv"] != "ok":
        warnings.append(f"KV: {ready.checks['kv']}")
    return warnings


# --- the app ---------------------------------------------------------------------------------


class _Current:
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

    current = _Current(bindings, request_log)

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
        if not _dashboard_allowed(dashboard_clients, client):
            raise HTTPException(404)
        query = request.query_params
        status, headers, body = await run_in_threadpool(
            _dashboard_page, current.bindings, query.get("from"), query.get("to")
        )
        return Response(body, status, headers=headers)

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/health/ready", health_ready, methods=["GET", "HEAD"]),
            Route("/dashboard", dashboard, methods=["GET", "HEAD"]),
        ],
        middleware=[Middleware(_Edge, current=current, hosts=hosts or loopback_policy())],
        exception_handlers={HTTPException: http_error, 500: server_error},
    )
    app.state.current = current
    return app


def _dashboard_allowed(policy: str, client: str) -> bool:
    import ipaddress

    if policy == "any":
        return True
    if policy != "loopback":
        return False
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False  # a unix socket or an unknown peer: not provably this machine


def _dashboard_page(
    bindings: Bindings, date_from: str | None, date_to: str | None
) -> tuple[int, dict[str, str], bytes]:
    """The report page (`admin.html`) over a read-only connection to the main database."""
    from worktime_cli.admin import html, inputs, report
    from worktime_cli.admin.targets import SQLiteDatabase

    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": html.CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        # Not even loadable by another origin (<iframe>, <img>, no-cors fetch): the page holds
        # users and sessions.
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    factory = bindings.d1.get("DB") or next(iter(bindings.d1.values()), None)
    try:
        if factory is None:
            raise WorktimeError("no D1 database is configured")
        start, end = inputs.parse_range(date_from, date_to)
        conn = factory()
        try:
            # Read-only by construction: the dashboard never writes, whatever a query does.
            conn.execute("PRAGMA query_only = ON")
            board = report.dashboard(SQLiteDatabase.over(conn), report.Filters(start, end))
        finally:
            conn.close()
    except WorktimeError as exc:
        from html import escape

        page = f"<!DOCTYPE html><title>dashboard</title><p>{escape(exc.message)}</p>"
        return 400, headers, page.encode()
    return 200, headers, html.page(board, title="worktime dashboard").encode()


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


class _Edge:
    """The Host check, CORS (as Hono's `cors()`) and the request log, as one pure ASGI middleware.

    Pure ASGI rather than BaseHTTPMiddleware: no extra task or body streaming per request,
    which is most of the cost of a /health hit. Not Starlette's TrustedHostMiddleware: it
    answers 400 in plain text (we answer 403, as Vite, in our JSON error shape), redirects
    to `www.` names, and as a separate layer it would either miss the /health fast path and
    preflights below or go unlogged.
    """

    def __init__(self, app: ASGIApp, current: _Current, hosts: HostPolicy) -> None:
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
        path = printable(scope["path"])
        phrase = _PHRASES.get(status, "")
        log(f"{printable(scope['method'])} {path} {status} {phrase} ({elapsed}ms)")


# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi controls that
# reorder or break a terminal line.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character percent-encoded (`\\n` → `%0A`, ESC → `%1B`)."""
    return _UNPRINTABLE.sub(
        lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8")), text
    )


# worktime's own pages, as opposed to the Worker-style API routes: never shared cross-origin.
OWN_PAGES = ("/dashboard",)


def _own_page(path: str) -> bool:
    return any(path == page or path.startswith(page + "/") for page in OWN_PAGES)


_HEALTH_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(HEALTH_BODY)).encode()),
)
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


# --- serving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """A bound, listening socket and the ports that were busy before it.

    `host` is the address the kernel bound (from the socket itself), so every spelling of
    "all interfaces" (`""`, `0`, `00.0.0.0`, `::0`, `0:0:0:0:0:0:0:0`) reads the same.
    """

    sock: socket.socket
    host: str
    port: int
    taken: tuple[int, ...] = ()
    name: str | None = None  # the name the user gave, when it is `localhost`

    @property
    def everywhere(self) -> bool:
        """Whether this listens on every interface (0.0.0.0 or ::)."""
        return is_unspecified(self.host)

    @property
    def url(self) -> str:
        """A URL that reaches this server from this machine (loopback for 0.0.0.0 / ::)."""
        host = self.host
        if self.everywhere:
            host = "::1" if ":" in host else "127.0.0.1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def shown_url(self) -> str:
        """The URL `Ready on …` names: `localhost` for localhost and for 0.0.0.0 / ::, as wrangler."""
        if self.name is not None or self.everywhere:
            return f"http://{self.name or 'localhost'}:{self.port}"
        return self.url


def is_unspecified(address: str) -> bool:
    """Whether `address` (numeric) means every interface, in any spelling."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_unspecified
    return parsed.is_unspecified


def bind_host(ip: str) -> str:
    """The address to bind for `--ip`: `localhost` means the IPv4 loopback, as miniflare."""
    return "127.0.0.1" if ip == "localhost" else ip


def resolve_ip(ip: str) -> tuple[socket.AddressFamily, str]:
    """`--ip` as the kernel reads it: (family, numeric address).

    `localhost` is the IPv4 loopback (as miniflare); `""` is every IPv4 interface, as
    bind() reads it. Anything that does not resolve is a clear error, not a traceback.
    """
    host = bind_host(ip)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1], as in a URL
    try:
        infos = socket.getaddrinfo(
            host or None, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (OSError, ValueError, UnicodeError):
        # ValueError: an embedded NUL; UnicodeError: bytes that are not UTF-8, or an
        # over-long label.
        raise WorktimeError(
            f"--ip {_quoted(ip)} is not an address or host name of this machine",
            hint="use localhost (the default), 127.0.0.1, ::1, or 0.0.0.0 for every interface",
        ) from None
    # IPv4 first when a name has both (as `localhost` does): what the URL we print reaches.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, str(sockaddr[0])


def _quoted(text: str) -> str:
    return (
        '"'
        + printable(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))[:80]
        + '"'
    )


def bind(ip: str, port: int | None) -> Listener:
    """Bind and listen. No `port`: 8787, else the next free one of 10. A given `port`: that one.

    Binding here (not inside uvicorn) closes the gap between "is it free?" and "take it".
    """
    family, host = resolve_ip(ip)
    explicit = port is not None
    first = DEFAULT_PORT if port is None else port
    candidates = [first] if explicit else list(range(first, first + PORT_ATTEMPTS + 1))
    taken: list[int] = []
    shown = f"[{host}]" if ":" in host else host
    for candidate in candidates:
        try:
            sock = _listen(family, host, candidate)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                taken.append(candidate)
                continue
            raise WorktimeError(
                f"cannot listen on {shown}:{candidate}: {exc.strerror}",
                hint="check --ip: it must be an address of this machine",
            ) from None
        bound = sock.getsockname()
        return Listener(
            sock,
            str(bound[0]),
            int(bound[1]),
            tuple(taken),
            name="localhost" if ip == "localhost" else None,
        )
    if explicit:
        raise WorktimeError(
            f"port {first} on {host} is already in use",
            hint="stop what is using it, or pick another with --port",
        )
    raise WorktimeError(
        f"ports {candidates[0]}-{candidates[-1]} on {host} are all in use",
        hint="pick a free port with --port",
    )


def _listen(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR (as uvicorn) lets a restart reuse a port in TIME_WAIT; it does not
        # let two live servers share one, so "busy" is still detected.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    app: Starlette,
    listener: Listener,
    *,
    rebuild: Callable[[], Bindings] | None = None,
    on_event: EventLog | None = None,
    debug: bool = False,
    stop: threading.Event | None = None,
    keep_alive_s: float = KEEP_ALIVE_S,
) -> None:
    """Serve `app` on `listener` until Ctrl+C, SIGTERM or `stop`, then return.

    A connection that sends nothing for `keep_alive_s` (before its first request or
    between requests) is closed.

    With `rebuild`, a background thread watches the bindings' files and swaps in new
    bindings on change, without restarting the server. `stop` lets an embedding thread
    (tests, the bench) end the server, since signals only reach the main thread.
    """
    import uvicorn

    event = on_event or (lambda _level, _message: None)
    config = uvicorn.Config(
        app,
        loop=_available("uvloop", "asyncio"),
        http=_idle_closing_protocol(_available("httptools", "h11")),
        timeout_keep_alive=keep_alive_s,  # type: ignore[arg-type]  # float works; typed int
        lifespan="off",
        access_log=False,  # our middleware logs, in wrangler's format
        log_config=None,
        log_level="debug" if debug else "error",
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,  # type: ignore[arg-type]  # float works; typed int
    )

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the captured signal after shutdown, which would turn a
            # clean Ctrl+C/SIGTERM stop into exit 130/143. We want exit 0.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self._on_signal) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True  # a second Ctrl+C: stop waiting for requests
            self.should_exit = True

        async def on_tick(self, counter: int) -> bool:
            if stopping.is_set():
                self.should_exit = True
            return await super().on_tick(counter)

    import logging

    logging.getLogger("uvicorn.error").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    stopping = stop or threading.Event()
    server = Server(config)
    watcher = None
    if rebuild is not None:
        watcher = threading.Thread(
            target=_watch, args=(app, rebuild, stopping, event), name="worktime-reload", daemon=True
        )
        watcher.start()
    try:
        server.run(sockets=[listener.sock])
    finally:
        stopping.set()
        listener.sock.close()
        if watcher is not None:
            watcher.join(timeout=0.5)


def _idle_closing_protocol(name: str) -> type[Any]:
    """uvicorn's HTTP protocol, with its keep-alive timer armed from the first byte.

    uvicorn arms the timer only after a response, so a client that connects and never
    sends a request holds its socket (and an fd) until the server stops; 21,000 of them
    exhausted the fd limit. Data arriving cancels the timer, as between requests.
    """
    base: type[Any]
    if name == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class IdleClosingProtocol(base):  # type: ignore[misc]  # a base chosen at run time
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    return IdleClosingProtocol


def _available(module: str, fallback: str) -> str:
    import importlib.util

    return module if importlib.util.find_spec(module) is not None else fallback


def _watch(
    app: Starlette, rebuild: Callable[[], Bindings], stop: threading.Event, event: EventLog
) -> None:
    """Rebuild the bindings whenever a watched file changes, until `stop` is set."""
    try:
        _watch_loop(app, rebuild, stop, event)
    except Exception as exc:  # never a traceback from this thread: say so, and stop reloading
        event(
            "error",
            f"watching for changes stopped ({type(exc).__name__}: {scrub.clean(str(exc))}); "
            "restart `worktime dev` to reload again",
        )


def _watch_loop(
    app: Starlette, rebuild: Callable[[], Bindings], stop: threading.Event, event: EventLog
) -> None:
    import watchfiles

    while not stop.is_set():
        files = app.state.current.bindings.watched_files()
        targets = _watch_targets(files)
        wanted = {str(_resolved(p)) for p in files}
        for changes in watchfiles.watch(
            *targets, stop_event=stop, recursive=False, debounce=200, raise_interrupt=False
        ):
            changed = sorted(
                {Path(path).name for _kind, path in changes if _relevant(path, wanted)}
            )
            if not changed:
                continue
            what = ", ".join(changed)
            try:
                bindings = rebuild()
            except WorktimeError as exc:
                event("warn", f"{what} changed but the bindings were kept: {exc.message}")
                continue
            except Exception as exc:  # a bug must not silently end reloading for the session
                detail = scrub.clean(str(exc))  # an error may quote a value it was given
                event(
                    "error", f"{what} changed but reloading failed: {type(exc).__name__}: {detail}"
                )
                continue
            reload_app(app, bindings)
            event("info", f"{what} changed: bindings reloaded")
            for warning in startup_warnings(bindings):
                event("warn", warning)
            if _watch_targets(bindings.watched_files()) != targets:
                break  # a folder appeared, or migrations_dir moved: watch the new set
        else:
            return


def _watch_targets(files: list[Path]) -> list[str]:
    # watchfiles needs existing paths, and watching a file misses atomic replaces (a new
    # inode), so watch folders: the file's own folder, or a missing folder's parent, where
    # its creation shows up.
    targets = set()
    for path in files:
        if path.is_dir():
            targets.add(str(path))
        elif path.parent.is_dir():
            targets.add(str(path.parent))
    return sorted(targets)


def _relevant(path: str, wanted: set[str]) -> bool:
    name = Path(path).name
    return (
        path in wanted
        or str(Path(path).parent) in wanted
        # .dev.vars.<env>, .dev.vars.example (it can name the required secrets), and the
        # .env files environment.resolve falls back to.
        or name.startswith((".dev.vars", ".env"))
    ) and not name.endswith(".tmp")
