"""`worktime doctor`: the setup plan's success criteria as checks.

Each check returns a `Check` (ok / warn / fail / skip, a detail, and a fix). A check that
cannot run because an earlier one failed is skipped with the reason, never crashes the rest.
Secret values are never part of a check: only names and where they resolve from.
The checks of each local D1 database live in `doctor_d1`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.dev.doctor_d1 import database_checks
from worktime_cli.errors import UsageError, WorktimeError
from worktime_cli.project import config as configmod
from worktime_cli.project.config import Config
from worktime_cli.secrets.safety import Check

if TYPE_CHECKING:
    from worktime_cli.secrets.environment import Environment

DEFAULT_PORT = 8787
PROBE_KEY = "__worktime_doctor_probe__"


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [
                {"name": c.name, "status": c.status, "message": c.message, "hint": c.hint}
                for c in self.checks
            ],
        }


def run(
    config_path: Path | None = None,
    *,
    persist_to: Path | None = None,
    env: str | None = None,
    port: int = DEFAULT_PORT,
) -> Report:
    """Run every check, in the order a newcomer would fix them."""
    checks: list[Check] = []
    try:
        # The environment's bindings, as every command resolves them; an --env the config
        # does not define is a usage error (exit 2), not a failed check.
        cfg = configmod.load(config_path, env=env)
    except UsageError:
        raise
    except WorktimeError as exc:
        checks.append(Check("config", "fail", exc.message, exc.hint))
        return Report(tuple(checks))
    checks.append(Check("config", "ok", f"{cfg.path} parses"))
    for db in cfg.d1_databases:
        checks.extend(database_checks(cfg, db, persist_to))
    if not cfg.d1_databases:
        checks.append(
            Check("d1", "fail", "no [[d1_databases]] in wrangler.toml", "run `worktime init`")
        )
    checks.extend(_kv_checks(cfg, persist_to))
    checks.extend(_environment_checks(cfg, env))
    checks.extend(_toolchain_checks(cfg, persist_to))
    from worktime_cli.secrets import safety

    checks.extend(safety.checks(cfg.root))
    checks.append(_port_check(port))
    return Report(tuple(checks))


# --- KV ----------------------------------------------------------------------------------


def _kv_checks(cfg: Config, persist_to: Path | None) -> Iterator[Check]:
    from worktime_cli import kv
    from worktime_cli.project import state

    if not cfg.kv_namespaces:
        yield Check("kv", "fail", "no [[kv_namespaces]] in wrangler.toml", "run `worktime init`")
        return
    for ns in cfg.kv_namespaces:
        label = f"kv {ns.binding}"
        try:
            with kv.KVStore(state.root(cfg, persist_to), ns.local_id) as store:
                store.put(PROBE_KEY, b"ok", expiration_ttl=60)
                entry = store.get(PROBE_KEY)
                store.delete(PROBE_KEY)
        except WorktimeError as exc:
            yield Check(label, "fail", exc.message, exc.hint)
            continue
        if entry is None or entry.value != b"ok" or entry.expiration is None:
            yield Check(label, "fail", "a value written with a TTL did not read back", None)
        else:
            yield Check(label, "ok", "write/read/delete with a 60 s TTL works")


# --- environment and secrets --------------------------------------------------------------


def _environment_checks(cfg: Config, env_name: str | None) -> Iterator[Check]:
    from worktime_cli.dev import worker_env
    from worktime_cli.secrets import environment

    try:
        env = environment.resolve(cfg, env=env_name)
    except WorktimeError as exc:
        yield Check("environment", "fail", exc.message, exc.hint)
        return
    files = ", ".join(p.name for p in env.files) or "no dotenv file"
    yield Check("environment", "ok", f"loads ({files})")
    if env.missing:
        yield Check(
            "secrets",
            "fail",
            f"required but not set: {', '.join(env.missing)}",
            f"worktime secret put {env.missing[0]}  (or add it to .dev.vars)",
        )
    elif env.required:
        shown = ", ".join(f"{name} ({env.sources[name]})" for name in env.required)
        yield Check("secrets", "ok", shown)
    else:
        yield Check("secrets", "skip", "no required secrets declared")
    yield _wrangler_dev_check(env)
    if (dropped := worker_env.undeclared_warning(env)) is not None:
        yield Check(
            "undeclared secrets",
            "warn",
            dropped,
            f"add them to [secrets] required in {cfg.path.name}, or remove them",
        )
    if env.keyring_error is None:
        yield _keyring_backend_check()
    elif not env.missing:
        yield Check(
            "keyring", "warn", env.keyring_error, "fine while .dev.vars supplies every secret"
        )
    else:
        yield Check(
            "keyring",
            "fail",
            env.keyring_error,
            "start/unlock a Secret Service, set PYTHON_KEYRING_BACKEND, or use .dev.vars",
        )


def _keyring_backend_check() -> Check:
    """Which backend holds the secrets, and a warning when it keeps them unencrypted."""
    from worktime_cli.secrets import keyring_store

    try:
        backend = keyring_store.backend_in_use()
    except WorktimeError as exc:  # it answered for the secrets a moment ago: say what changed
        return Check("keyring", "warn", exc.message, exc.hint)
    if backend.secure:
        return Check("keyring", "ok", f"OS keyring usable ({backend.path})")
    keyring_store.take_notices()  # this check says it; no second warning for the same thing
    return Check(
        "keyring",
        "warn",
        f"secrets are stored unencrypted: {keyring_store.BACKEND_VARIABLE} chose {backend.path}, "
        f"and {backend.reason}",
        "start and unlock a Secret Service and unset PYTHON_KEYRING_BACKEND to keep them encrypted",
    )


def _wrangler_dev_check(env: Environment) -> Check:
    """Whether a plain `wrangler dev` sees each required secret: it never reads the keyring."""
    from worktime_cli.dev import worker_env

    if not env.required:
        return Check("wrangler dev", "skip", "no required secrets declared")
    sights = worker_env.wrangler_sight(env)
    unseen = [s for s in sights if s.wrangler is None]

    def where(sight: worker_env.SecretSight) -> str:
        # Unseen first: when neither resolves it, both are None and would read as "(None)".
        if sight.wrangler is None:
            return f"{sight.name} (worktime: {sight.worktime or 'nowhere'})"
        if sight.wrangler == sight.worktime:
            return f"{sight.name} ({sight.wrangler})"
        return f"{sight.name} ({sight.wrangler}; worktime: {sight.worktime or 'nowhere'})"

    if not unseen:
        return Check("wrangler dev", "ok", "sees " + ", ".join(where(s) for s in sights))
    seen = [s for s in sights if s.wrangler is not None]
    message = "does not see " + ", ".join(where(s) for s in unseen)
    if seen:
        message += "; sees " + ", ".join(where(s) for s in seen)
    from_keyring = any(s.worktime == "keyring" for s in unseen)
    hint = (
        "wrangler reads .dev.vars, .env and the process environment, never the keyring: "
        "run the Worker with `worktime dev --worker`"
        if from_keyring
        else "set them with `worktime secret put NAME` and run `worktime dev --worker`, "
        "or put them in .dev.vars"
    )
    return Check("wrangler dev", "warn", message, hint)


# --- the Worker's toolchain ------------------------------------------------------------------


def _toolchain_checks(cfg: Config, persist_to: Path | None) -> Iterator[Check]:
    """The project's node_modules wrangler against worktime's floor, the state and Node."""
    from worktime_cli.dev import toolchain
    from worktime_cli.project import state

    installed = toolchain.installed_wrangler(cfg.root)
    if installed is None:
        yield Check(
            "wrangler",
            "skip",
            "no node_modules/wrangler (worktime dev needs none)",
            "run `npm install` to run the Worker itself with `worktime dev --worker`",
        )
        return
    have = toolchain.shown(installed.version)
    upgrade = f"npm install --save-dev wrangler@{toolchain.pinned('wrangler')}"
    floor = toolchain.parse_version(toolchain.TESTED_FLOOR)
    newer_state = toolchain.state_from_newer_workerd(state.root(cfg, persist_to))
    if floor is not None and installed.version < floor:
        yield Check(
            "wrangler",
            "warn",
            f"node_modules has wrangler {have}, older than the oldest worktime is tested "
            f"with ({toolchain.TESTED_FLOOR})",
            upgrade,
        )
    elif newer_state is not None and installed.version < toolchain.parse_version_or_zero(
        toolchain.pinned("wrangler")
    ):
        yield Check(
            "wrangler",
            "warn",
            f"the local state was written by a newer wrangler ({newer_state.parent.name} has "
            f"_cf_ALARM.{toolchain.NEWER_STATE_COLUMN}); wrangler {have} may fail to open it "
            "(4.86 does: 'table _cf_ALARM has 3 columns but 2 values were supplied')",
            upgrade,
        )
    else:
        yield Check("wrangler", "ok", f"node_modules has wrangler {have}")
    problem = toolchain.node_problem(installed.node_engines, toolchain.node_version())
    if problem is not None:
        yield Check(
            "node",
            "warn",
            problem,
            toolchain.NODE_HINT.format(need=installed.node_engines or "22"),
        )


# --- dev server port -----------------------------------------------------------------------


def _port_check(port: int, probe: Callable[[int], str | None] | None = None) -> Check:
    answer = (probe or _health)(port)
    if answer is None:
        return Check("dev port", "ok", f"127.0.0.1:{port} is free for `worktime dev`")
    if answer == "healthy":
        return Check("dev port", "ok", f"a dev server on 127.0.0.1:{port} answers /health")
    return Check(
        "dev port",
        "fail",
        f"127.0.0.1:{port} is taken by something that is not a healthy dev server ({answer})",
        "stop that program, or run `worktime dev --port N`",
    )


def _health(port: int) -> str | None:
    """None if nothing listens; "healthy" if /health answers as ours does; else what we saw."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(2)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except ConnectionRefusedError:
        return None
    except OSError as exc:
        return f"no HTTP answer: {exc.strerror or exc}"
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    try:
        healthy = status.split()[1] == "200" and json.loads(body) == {"status": "ok"}
    except (IndexError, ValueError):
        healthy = False
    return "healthy" if healthy else f"answered {status or 'nothing'}"
