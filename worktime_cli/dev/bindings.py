"""The bindings: what a dev server request can reach (local D1, KV, the resolved environment).

`build_bindings` wires them from the config, the way the Worker's `env` is wired; `readiness`
checks them for `/health/ready`, and `startup_warnings` says what `worktime dev` should warn
about before serving. Names only, never values, in every message.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from worktime_cli import d1 as d1mod
from worktime_cli import kv, migrations
from worktime_cli.errors import WorktimeError
from worktime_cli.project import state
from worktime_cli.project.config import Config, D1Binding
from worktime_cli.secrets import environment

READY_PROBE_KEY = "__worktime_ready_probe__"


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
        dirs = {resolved_path(root / db.migrations_dir) for db in self.config.d1_databases}
        return [self.config.path, root / ".dev.vars", *sorted(dirs)]


def resolved_path(path: Path) -> Path:
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
