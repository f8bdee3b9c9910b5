"""`worktime dev`: serve the local bindings over HTTP, as `wrangler dev` serves the Worker."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import ConfigOption, EnvOption, PersistOption


class LogLevel(StrEnum):
    """wrangler's --log-level values; `info` and below log every request."""

    debug = "debug"
    info = "info"
    log = "log"
    warn = "warn"
    error = "error"
    none = "none"


_RANK = {"debug": 0, "info": 1, "log": 1, "warn": 2, "error": 3, "none": 4}


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("dev")(dev)


def dev(
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            help="Port to listen on (default: 8787, or the next free one of 10). "
            "A port given here must be free.",
            show_default=False,
            min=1,
            max=65535,
        ),
    ] = None,
    ip: Annotated[
        str,
        typer.Option(
            "--ip", help="Address to listen on. 0.0.0.0 exposes the server to your whole network."
        ),
    ] = "localhost",
    env: EnvOption = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY:VALUE",
            help="Set a var for this run, over wrangler.toml and .dev.vars (repeatable).",
            show_default=False,
        ),
    ] = None,
    persist_to: PersistOption = None,
    config: ConfigOption = None,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            help="info logs every request; warn only problems; none is silent.",
            case_sensitive=False,
        ),
    ] = LogLevel.info,
) -> None:
    """Serve the local D1, KV and environment over HTTP until Ctrl+C.

    Answers /health and /health/ready, logs one line per request, and reloads the bindings
    when wrangler.toml, .dev.vars or the migrations change.

    Example:

        worktime dev --port 8788 --var CORS_ORIGINS:chrome-extension://abcdef
    """
    from worktime_cli import config as configmod
    from worktime_cli import environment, server

    cli_vars = environment.parse_cli_vars(var or [])
    rank = _RANK[log_level.value]
    cfg = configmod.load(config)
    bindings = server.build_bindings(cfg, persist_to, env, cli_vars)

    def say(level: str, message: str) -> None:
        if level == "info" and rank <= 1:
            output.info(message)
        elif level == "warn" and rank <= 2:
            output.warn(message)
        elif level == "error" and rank <= 3:
            output.error(message)

    for warning in server.startup_warnings(bindings):
        say("warn", warning)
    listener = server.bind(ip, port)
    if listener.taken:
        busy = ", ".join(str(p) for p in listener.taken)
        say("warn", f"port {busy} is in use; using {listener.port} instead")
    if listener.host in ("0.0.0.0", "::"):  # noqa: S104  # comparing, not binding
        say(
            "warn",
            "listening on every network interface: anyone on your network can reach this server",
        )

    def rebuild() -> server.Bindings:
        return server.build_bindings(configmod.load(cfg.path), persist_to, env, cli_vars)

    app = server.create_app(bindings, request_log=_write_stderr if rank <= 1 else None)
    host = f"[{ip}]" if ":" in ip else ip
    say("info", f"Ready on http://{host}:{listener.port}")
    say("info", "watching wrangler.toml, .dev.vars and the migrations for changes; Ctrl+C to stop")
    server.serve(app, listener, rebuild=rebuild, on_event=say, debug=rank == 0)
    say("info", "stopped")


def _write_stderr(line: str) -> None:
    # Plain write, no Rich: this runs once per request. stderr is line-buffered (3.9+).
    sys.stderr.write(line + "\n")
