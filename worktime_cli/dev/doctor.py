"""`worktime doctor`: the setup plan's success criteria as checks.

Each check returns a `Check` (ok / warn / fail / skip, a detail, and a fix). A check that
cannot run because an earlier one failed is skipped with the reason, never crashes the rest.
Secret values are never part of a check: only names and where they resolve from.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import UsageError, WorktimeError
from worktime_cli.project import config as configmod
from worktime_cli.project.config import Config, D1Binding
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
        checks.extend(_database_checks(cfg, db, persist_to))
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


# --- D1 ----------------------------------------------------------------------------------


def _database_checks(cfg: Config, db: D1Binding, persist_to: Path | None) -> Iterator[Check]:
    from worktime_cli import d1, migrations

    label = f"d1 {db.database_name}"
    files_check = _migration_files(label, cfg, db)
    if files_check is not None:
        yield files_check
        if files_check.status == "fail":
            return  # every check below reads the migrations through the same layout
    path = d1.database_path(cfg, db, persist_to)
    if not path.is_file():
        yield Check(
            f"{label}: file",
            "fail",
            f"no local database file ({path})",
            f"run `worktime d1 migrations apply {db.database_name}` (or `worktime init`)",
        )
        return
    try:
        conn = d1.connect(path)
    except WorktimeError as exc:
        yield Check(f"{label}: file", "fail", exc.message, "restore it with `worktime d1 restore`")
        return
    try:
        yield _integrity(label, conn, path)
        status = migrations.status(cfg, db, persist_to)
        yield _migration_state(label, db, status)
        yield _schema(label, cfg, db, conn, status)
        yield _foreign_keys(label, conn)
        yield _replay(label, cfg, db, persist_to)
    except WorktimeError as exc:
        yield Check(label, "fail", exc.message, exc.hint)
    finally:
        conn.close()


def _replay(label: str, cfg: Config, db: D1Binding, persist_to: Path | None) -> Check:
    """`migrations verify` as a check: every up runs on a fresh database, every down undoes it."""
    from worktime_cli.migrations import LocalMigrations, engine

    result = engine.verify_all(LocalMigrations(cfg, persist_to, db))
    if result.ok:
        return Check(
            f"{label}: verify", "ok", f"{len(result.migrations)} migration(s) replay up/down/up"
        )
    return Check(
        f"{label}: verify",
        "fail",
        "; ".join(f"{m.name}: up {m.up}, down {m.down}" for m in result.problems[:3]),
        f"see `worktime d1 migrations verify {db.database_name}` for the schema diff",
    )


def _migration_files(label: str, cfg: Config, db: D1Binding) -> Check | None:
    """The files wrangler's walk sees, as `migrations lint` reports them: a pattern wrangler
    refuses, down files it would run as migrations, symlinks it skips. None when all is well."""
    from worktime_cli.migrations import files, lint

    name = f"{label}: migration files"
    try:
        where = files.layout(cfg, db)
    except WorktimeError as exc:
        return Check(name, "fail", exc.message, exc.hint)
    findings = lint.layout_findings(where)
    if not findings:
        return None
    return Check(
        name,
        "fail" if any(f.severity == lint.ERROR for f in findings) else "warn",
        "; ".join(f"{f.file}: {f.message}" for f in findings[:3]),
        findings[0].fix,
    )


def _integrity(label: str, conn: sqlite3.Connection, path: Path) -> Check:
    try:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return Check(f"{label}: integrity", "ok", f"{path.name}: integrity_check ok")
    return Check(
        f"{label}: integrity",
        "fail",
        f"integrity_check: {'; '.join(rows[:3])}",
        f"restore a snapshot with `worktime d1 restore {label.removeprefix('d1 ')}`",
    )


def _migration_state(label: str, db: D1Binding, status: Any) -> Check:
    problems = []
    for kind, hint in (
        ("pending", f"worktime d1 migrations apply {db.database_name}"),
        ("drifted", "restore the applied files from git (or roll back and re-apply)"),
        ("missing", "restore the deleted migration files from git"),
    ):
        names = [m.name for m in getattr(status, kind)]
        if names and kind == "drifted":
            shown = ", ".join(names)
            problems.append(
                (f"drifted: {shown} (edited after it was applied: checksum differs)", hint)
            )
        elif names:
            problems.append((f"{kind}: {', '.join(names)}", hint))
    if problems:
        return Check(
            f"{label}: migrations",
            "fail",
            "; ".join(p for p, _ in problems),
            "; ".join(h for _, h in problems),
        )
    applied = sum(1 for m in status.migrations if m.state in ("applied", "unverified"))
    return Check(f"{label}: migrations", "ok", f"{applied} applied, none pending, no drift")


def _schema(label: str, cfg: Config, db: D1Binding, conn: sqlite3.Connection, status: Any) -> Check:
    """The live schema must be exactly what the applied migrations produce."""
    from worktime_cli import migrations

    drifted = [m.name for m in status.drifted]
    if drifted:
        # The expected schema is replayed from the files; an edited file no longer says what
        # was applied, so a difference would blame the database for the file's edit.
        return Check(
            f"{label}: schema",
            "skip",
            f"not compared: {', '.join(drifted)} changed after it was applied",
        )
    applied = [m.name for m in status.migrations if m.state in ("applied", "unverified")]
    if not applied:
        return Check(f"{label}: schema", "skip", "no migrations applied yet")
    expected = {
        (row[0], row[1]): row for row in migrations.expected_schema(cfg, db, upto=applied[-1])
    }
    actual = {(row[0], row[1]): row for row in migrations.schema_of(conn, db.migrations_table)}
    extra = sorted(f"{t} {n}" for (t, n) in actual.keys() - expected.keys())
    absent = sorted(f"{t} {n}" for (t, n) in expected.keys() - actual.keys())
    changed = sorted(
        f"{t} {n}"
        for key in expected.keys() & actual.keys()
        if expected[key] != actual[key]
        for (t, n) in [key]
    )
    if not (extra or absent or changed):
        return Check(f"{label}: schema", "ok", f"matches the migrations ({len(expected)} objects)")
    parts = [
        f"{what}: {', '.join(items)}"
        for what, items in (
            ("not from migrations", extra),
            ("missing", absent),
            ("changed", changed),
        )
        if items
    ]
    return Check(
        f"{label}: schema",
        "fail",
        "; ".join(parts),
        "put manual schema changes in a migration (`worktime d1 migrations create`)",
    )


def _foreign_keys(label: str, conn: sqlite3.Connection) -> Check:
    """Probe enforcement with an orphan insert, rolled back; then look for existing orphans."""
    enforced = False
    conn.execute("SAVEPOINT worktime_doctor /* worktime */")
    try:
        conn.execute("CREATE TEMP TABLE wt_probe_parent (id INTEGER PRIMARY KEY) /* worktime */")
        conn.execute(
            "CREATE TEMP TABLE wt_probe_child (p INTEGER REFERENCES wt_probe_parent(id)) /* worktime */"
        )
        try:
            conn.execute("INSERT INTO wt_probe_child VALUES (1) /* worktime */")
        except sqlite3.IntegrityError:
            enforced = True
    finally:
        conn.execute("ROLLBACK TO worktime_doctor /* worktime */")
        conn.execute("RELEASE worktime_doctor /* worktime */")
    if not enforced:
        return Check(
            f"{label}: foreign keys",
            "fail",
            "an orphan row was accepted: foreign keys are not enforced",
            "PRAGMA foreign_keys = ON must be set on every connection, outside transactions",
        )
    violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        tables = sorted({row[0] for row in violations})
        return Check(
            f"{label}: foreign keys",
            "fail",
            f"{len(violations)} existing row(s) reference missing parents (in {', '.join(tables)})",
            "delete or fix the orphan rows (`PRAGMA foreign_key_check` lists them)",
        )
    return Check(f"{label}: foreign keys", "ok", "enforced; no orphan rows")


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
