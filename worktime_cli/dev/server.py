"""The dev server: the app served by uvicorn on a bound socket until Ctrl+C or SIGTERM.

`serve()` runs the app (`app.create_app`) on a listener (`listener.bind`), has the reloader
swap the bindings when wrangler.toml, .dev.vars or the migrations change, and stops within a
second on Ctrl+C or SIGTERM. uvicorn is imported here, so only `worktime dev` pays for it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from worktime_cli.dev.reloader import EventLog, watch

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from worktime_cli.dev.bindings import Bindings
    from worktime_cli.dev.listener import Listener

SHUTDOWN_GRACE_S = 0.5  # in-flight requests get this long; the whole stop stays under 1 s
# An idle connection (none sent yet, or between keep-alive requests) is closed after this
# long: thousands of idle sockets otherwise exhaust the fd limit (uvicorn's default value).
KEEP_ALIVE_S = 5.0


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
            target=watch, args=(app, rebuild, stopping, event), name="worktime-reload", daemon=True
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
