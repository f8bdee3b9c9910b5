"""`worktime dev`: serve the local bindings over HTTP, or (`--worker`) run the real Worker."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from worktime_cli.cli import output
from worktime_cli.cli.options import LocalTarget, Target


class LogLevel(StrEnum):
    """wrangler's --log-level values; `info` and below log every request."""

    debug = "debug"
    info = "info"
    log = "log"
    warn = "warn"
    error = "error"
    none = "none"


_RANK = {"debug": 0, "info": 1, "log": 1, "warn": 2, "error": 3, "none": 4}
EVERYWHERE_WARNING = (
    "listening on every network interface: anyone on your network can reach this server"
)


def _everywhere(ip: str) -> bool:
    """Whether wrangler will listen on every interface for `--ip` (any spelling of 0.0.0.0/::)."""
    from worktime_cli.dev.listener import is_unspecified, resolve_ip
    from worktime_cli.errors import WorktimeError

    try:
        return is_unspecified(resolve_ip(ip)[1])
    except WorktimeError:
        return False  # wrangler reports an address it cannot use in its own words


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
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help="Also answer requests for this host name, e.g. a LAN or tunnel name "
            "(repeatable). Requests naming any other host get 403.",
            show_default=False,
        ),
    ] = None,
    target: LocalTarget = Target(),
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY:VALUE",
            help="Set a var for this run, over wrangler.toml and .dev.vars (repeatable).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            help="info logs every request; warn only problems; none is silent.",
            case_sensitive=False,
        ),
    ] = LogLevel.info,
    inspector_port: Annotated[
        int | None,
        typer.Option(
            "--inspector-port",
            help="With --worker: the port of the Worker's debugger. Without it wrangler takes "
            "9229 when free, and two workers starting at the same moment can both pick it.",
            show_default=False,
            min=1,
            max=65535,
        ),
    ] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help="Run the project's Worker (`main`) with the real wrangler dev, handing it "
            "the keyring secrets through its environment (never argv or a file).",
        ),
    ] = False,
) -> None:
    """Serve the local D1, KV and environment over HTTP until Ctrl+C.

    Answers /health and /health/ready, logs one line per request, and reloads the bindings
    when wrangler.toml, .dev.vars or the migrations change. Listens on localhost unless
    --ip says otherwise, and answers only requests whose Host is one of its own names
    (localhost, 127.0.0.1, ::1, the --ip given, on 0.0.0.0 this machine's name and
    addresses, and each --allowed-host): a web page cannot reach it under its own name.
    /dashboard is never shared with other origins, whatever CORS_ORIGINS allows.

    With --worker, runs the project's Worker (`main`) with the real `wrangler dev` instead
    (node_modules/.bin/wrangler, else $WORKTIME_WRANGLER), handing it exactly the environment
    worktime resolves ([vars] < keyring < .dev.vars < --var) through its process environment
    only, never its command line or a file. Only the names the project declares reach the
    Worker. --port, --ip, --inspector-port, --env, --persist-to and --log-level are passed
    on; Ctrl+C stops
    wrangler and workerd; the exit code is wrangler's.

    Example:

        worktime dev --port 8788 --var CORS_ORIGINS:chrome-extension://abcdef
        worktime dev --worker --port 8787
    """
    from worktime_cli.cli.context import open_context
    from worktime_cli.dev import host_policy, server
    from worktime_cli.dev.app import create_app
    from worktime_cli.dev.bindings import Bindings, build_bindings, startup_warnings
    from worktime_cli.dev.listener import bind
    from worktime_cli.errors import UsageError
    from worktime_cli.project import config as configmod
    from worktime_cli.secrets import environment

    extra_hosts = [host_policy.checked_allowed_host(name) for name in allowed_host or []]
    if worker and extra_hosts:
        raise UsageError(
            "--allowed-host is for worktime's own dev server, not --worker",
            hint="wrangler dev decides which hosts it answers itself",
        )
    if inspector_port is not None and not worker:
        raise UsageError(
            "--inspector-port is for --worker: worktime's own dev server runs no Worker to debug",
            hint="worktime dev --worker --inspector-port 9230",
        )
    cli_vars = environment.parse_cli_vars(var or [])
    rank = _RANK[log_level.value]
    with open_context(target) as ctx:
        cfg = ctx.config
    if worker:
        _run_worker(
            cfg, port, ip, target.env, cli_vars, target.persist_to, log_level, rank, inspector_port
        )
        return
    bindings = build_bindings(cfg, target.persist_to, target.env, cli_vars)

    def say(level: str, message: str) -> None:
        if level == "info" and rank <= 1:
            output.info(message)
        elif level == "warn" and rank <= 2:
            output.warn(message)
        elif level == "error" and rank <= 3:
            output.error(message)

    for warning in startup_warnings(bindings):
        say("warn", warning)
    if (dropped := _undeclared_warning(bindings.env)) is not None:
        say("warn", dropped)
    listener = bind(ip, port)
    if listener.taken:
        busy = ", ".join(str(p) for p in listener.taken)
        say("warn", f"port {busy} is in use; using {listener.port} instead")
    if listener.everywhere:  # decided from the bound address: "", 0, ::0 … all count
        say("warn", EVERYWHERE_WARNING)

    def rebuild() -> Bindings:
        return build_bindings(
            configmod.load(cfg.path, env=target.env), target.persist_to, target.env, cli_vars
        )

    hosts = host_policy.server_policy(ip, listener.host, listener.everywhere, extra_hosts)
    request_log = _write_stderr if rank <= 1 and not output.is_quiet() else None
    app = create_app(bindings, request_log=request_log, hosts=hosts)
    say("info", f"Ready on {listener.shown_url}")
    say("info", "watching wrangler.toml, .dev.vars and the migrations for changes; Ctrl+C to stop")
    server.serve(app, listener, rebuild=rebuild, on_event=say, debug=rank == 0)
    say("info", "stopped")


def _undeclared_warning(resolved: Any) -> str | None:
    from worktime_cli.dev import worker_env

    return worker_env.undeclared_warning(resolved)


def _run_worker(
    cfg: Any,
    port: int | None,
    ip: str,
    env: str | None,
    cli_vars: dict[str, str],
    persist_to: Path | None,
    log_level: LogLevel,
    rank: int,
    inspector_port: int | None,
) -> None:
    """`dev --worker`: the real wrangler dev with the resolved environment, until it exits."""
    from worktime_cli.dev import runner, worker, worker_env
    from worktime_cli.secrets import environment

    worker.entry_point(cfg)
    wrangler = worker.find_wrangler(cfg.root)
    resolved = environment.resolve(cfg, env=env, cli_vars=cli_vars)
    child = worker_env.worker_environment(resolved)
    worker.require_node(child.variables, cfg.root)
    if rank <= 2:
        if _everywhere(ip):
            output.warn(EVERYWHERE_WARNING)
        for warning in resolved.warnings:
            output.warn(warning)
        if resolved.keyring_error is not None and resolved.missing:
            # As the dev server: with .dev.vars supplying every secret, it changes nothing.
            output.warn(f"keyring secrets are not handed to wrangler: {resolved.keyring_error}")
        if resolved.missing:
            output.warn(
                "required secrets resolve from nowhere: "
                + ", ".join(resolved.missing)
                + " (set them with `worktime secret put NAME` or in .dev.vars)"
            )
        if (dropped := worker_env.undeclared_warning(resolved)) is not None:
            output.warn(dropped)
        if child.exposed:
            output.warn(
                "no [secrets] required in the config, so wrangler also hands the Worker "
                + ", ".join(child.exposed)
                + "; list the secret names under [secrets] required to keep env to yours"
            )
    if rank <= 1:
        names = ", ".join(child.passed) or "none"
        output.info(
            f"running {wrangler.path} dev with worktime's values for: {names} "
            "(through its process environment; wrangler itself reads no dotenv file)"
        )
    argv = worker.wrangler_dev_argv(
        wrangler,
        cfg,
        port=port,
        ip=ip,
        inspector_port=inspector_port,
        env=env,
        persist_to=persist_to,
        log_level=None if log_level is LogLevel.info else log_level.value,
        cli_vars=cli_vars,
    )
    code = runner.run(argv, child.variables, cwd=cfg.root, own_group=True)
    if code:
        raise typer.Exit(code)


def _write_stderr(line: str) -> None:
    # Plain write, no Rich: this runs once per request. stderr is line-buffered (3.9+).
    sys.stderr.write(line + "\n")
