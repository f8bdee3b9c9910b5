"""`worktime init`: turn a folder into a working project, idempotently.

Each step fills in only what is missing and records what it did, so a second run changes
nothing (every existing file stays byte-identical) and says so. An existing wrangler.toml
is extended with tomlkit, never rewritten.

Besides the config, migrations and local state, init writes the seed's Worker (the Hono app
in src/index.ts, package.json, tsconfig.json) and worker-configuration.d.ts from `typegen`, so
`npm install && npx wrangler dev` serves /health and `npx tsc --noEmit` passes with no edit.
init itself never runs npm unless asked (`install=True`): `worktime init && worktime dev`
needs no Node.
"""

from __future__ import annotations

import re
import secrets as _random
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

from worktime_cli.errors import WorktimeError
from worktime_cli.project import config as configmod
from worktime_cli.project import editing
from worktime_cli.project.config import Config

DEFAULT_NAME = "worktime-backend"
DATABASE_NAME = "worktime-db"
D1_BINDING = "DB"
KV_BINDING = "KV"
REQUIRED_SECRETS = ("JWT_SECRET", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")
INITIAL_MIGRATION = "0001_initial_schema.sql"
MAIN = "src/index.ts"
# The Worker's own files, shipped in worktime_cli/dev/scaffold_files/ (package data).
WORKER_FILES = ("package.json", "tsconfig.json")
NPM_INSTALL = ("install", "--no-audit", "--no-fund")
_NODE_MODULES_LINES = {"node_modules", "node_modules/", "/node_modules", "/node_modules/"}
_WORKER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # Cloudflare's rule for script names

WRANGLER_TOML = """\
# wrangler.toml: read by both `wrangler` and `worktime`; edit it freely (comments survive
# worktime's own edits).
name = {name}
main = "src/index.ts"
compatibility_date = "2024-01-01"

# Workers Logs and traces in the Cloudflare dashboard.
[observability]
enabled = true

# D1: the Worker's SQL database, env.DB. Locally it lives under .wrangler/state; apply the
# files in migrations/ with `worktime d1 migrations apply {database}`. The id is replaced
# by the real one when you run `worktime d1 create {database} --remote`.
[[d1_databases]]
binding = "{d1_binding}"
database_name = "{database}"
database_id = "{database_id}"
migrations_dir = "migrations"

# KV: GitHub tokens, env.KV, stored with a 7-day TTL.
[[kv_namespaces]]
binding = "{kv_binding}"
id = "{kv_id}"

# Plain (non-secret) variables, visible to the Worker as env.ENVIRONMENT.
[vars]
ENVIRONMENT = "development"

# Secrets the Worker needs. Locally: `worktime secret put NAME` (OS keyring) or .dev.vars;
# in production: `worktime secret put NAME --remote`. `worktime doctor` checks them.
[secrets]
required = [{required}]
"""


@dataclass
class InitResult:
    """What `init` did: paths/things created, kept as they were, and still missing."""

    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    missing_secrets: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "created": self.created,
            "kept": self.kept,
            "missing_secrets": list(self.missing_secrets),
            "warnings": self.warnings,
        }


def package_data(name: str) -> Path:
    """A file shipped in the wheel (`worktime_cli/data/…`); in a source checkout, the repo's copy.

    The wheel is built from the repo's top-level files (hatch force-include), so both paths
    hold the same bytes and the repo keeps one copy.
    """
    shipped = Path(str(resources.files("worktime_cli"))) / "data" / name
    if shipped.exists():
        return shipped
    source = Path(__file__).resolve().parents[2] / _SOURCE_NAMES.get(name, name)
    if source.exists():
        return source
    raise WorktimeError(
        f"worktime's own {name} is missing from this installation", hint="reinstall worktime"
    )


_SOURCE_NAMES = {"dev.vars.example": ".dev.vars.example"}


def scaffold_file(name: str) -> Path:
    """A template of the Worker scaffold (`worktime_cli/dev/scaffold_files/…`), inside the package."""
    path = Path(str(resources.files("worktime_cli.dev"))) / "scaffold_files" / name
    if not path.is_file():
        raise WorktimeError(
            f"worktime's own scaffold file {name} is missing from this installation",
            hint="reinstall worktime",
        )
    return path


def init(
    root: Path,
    *,
    name: str = DEFAULT_NAME,
    persist_to: Path | None = None,
    install: bool = False,
    npm_output: IO[str] | None = None,
) -> InitResult:
    """Create or complete the project in `root` (see the module docstring).

    `install` runs `npm install` in `root` at the end; npm's own output goes to `npm_output`
    (the CLI passes stderr: stdout stays data), or is captured and shown only on failure.
    """
    if not _WORKER_NAME.fullmatch(name):
        raise WorktimeError(
            f"{name!r} is not a valid Worker name",
            hint="use lowercase letters, digits, '-' and '_' (at most 63), e.g. worktime-backend",
        )
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise WorktimeError(f"{root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult(root=root)
    cfg = _wrangler_toml(root, name, result)
    _copy_migrations(cfg, result)
    _copy_if_missing(package_data("dev.vars.example"), root / ".dev.vars.example", result)
    _worker(cfg, name, result)
    _types(cfg, result)
    _gitignore(root, result)
    _local_database(cfg, persist_to, result)
    _local_kv(cfg, persist_to, result)
    _secrets(cfg, result)
    if install:
        npm_install(root, output=npm_output)
        result.created.append("node_modules/ (npm install)")
    return result


def _worker(cfg: Config, name: str, result: InitResult) -> None:
    """The seed's Hono app at `main`, package.json and tsconfig.json, each only if missing."""
    main = cfg.data.get("main")
    if not isinstance(main, str) or not main.endswith(".ts"):
        # A JavaScript (or otherwise custom) Worker is the project's own; a TypeScript
        # scaffold next to it would only confuse wrangler and tsc.
        result.warnings.append(
            f"main is {main!r} in {cfg.path.name}, not a .ts file: the TypeScript Worker "
            "(src/index.ts, package.json, tsconfig.json) was not written"
        )
        return
    entry = cfg.root / main
    if entry.exists():
        result.kept.append(main)
    else:
        entry.parent.mkdir(parents=True, exist_ok=True)
        configmod.write_atomic(entry, scaffold_file(MAIN).read_bytes())
        result.created.append(main)
    package = cfg.root / "package.json"
    if package.exists():
        result.kept.append("package.json")
    else:
        import json

        data = json.loads(scaffold_file("package.json").read_text(encoding="utf-8"))
        data["name"] = cfg.name or name  # a Worker name is a valid npm package name
        configmod.write_atomic(package, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
        result.created.append("package.json")
    _copy_if_missing(scaffold_file("tsconfig.json"), cfg.root / "tsconfig.json", result)


def _types(cfg: Config, result: InitResult) -> None:
    from worktime_cli.dev import typegen

    path = typegen.output_path(cfg, None)
    label = path.name
    if not path.exists():
        typegen.write(cfg)
        result.created.append(label)
        return
    result.kept.append(label)
    if typegen.check(cfg).status != "current":
        result.warnings.append(f"{label} is out of date: run `worktime types` to regenerate it")


def npm_install(root: Path, *, output: IO[str] | None = None) -> None:
    """`npm install` in `root`; a missing npm or a failed install is a WorktimeError."""
    import shutil
    import subprocess

    npm = shutil.which("npm")
    if npm is None:
        raise WorktimeError(
            "--install needs npm, which is not on PATH",
            hint="install Node.js (it includes npm), or run `npm install` yourself later",
        )
    capture = output is None
    try:
        done = subprocess.run(
            [npm, *NPM_INSTALL],
            cwd=root,
            stdout=subprocess.PIPE if capture else output,
            stderr=subprocess.STDOUT if capture else output,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise WorktimeError(f"cannot run npm: {exc.strerror}") from None
    tail = " ".join((done.stdout or "").strip().splitlines()[-3:]) if capture else ""
    if done.returncode != 0:
        raise WorktimeError(
            f"npm install failed (exit {done.returncode}){': ' + tail if tail else ''}",
            hint=f"the project files are in place; run `npm install` in {root} to retry",
        )


def _existing_config(root: Path) -> Path | None:
    """The config already in `root`, in wrangler's order (json, jsonc, toml), if any."""
    for candidate in configmod.CONFIG_NAMES:
        if (root / candidate).is_file():
            return root / candidate
    return None


def _wrangler_toml(root: Path, name: str, result: InitResult) -> Config:
    path = _existing_config(root)
    if path is None:
        import tomlkit

        path = root / "wrangler.toml"
        text = WRANGLER_TOML.format(
            name=tomlkit.string(name).as_string(),
            database=DATABASE_NAME,
            d1_binding=D1_BINDING,
            database_id=uuid.uuid4(),
            kv_binding=KV_BINDING,
            kv_id=_random.token_hex(16),
            required=", ".join(f'"{s}"' for s in REQUIRED_SECRETS),
        )
        configmod.write_atomic(path, text.encode("utf-8"))
        result.created.append("wrangler.toml")
        return configmod.load(path)

    # An existing wrangler.json/jsonc/toml is extended in place (comments and layout kept by
    # editing.edit); writing a second config next to it would be ignored by wrangler.
    cfg = configmod.load(path)
    added: list[str] = []

    def extend(document: editing.Document) -> None:
        for key, value in (
            ("name", name),
            ("main", MAIN),
            ("compatibility_date", "2024-01-01"),
        ):
            if key not in document:
                document[key] = value
                added.append(key)
        if "observability" not in document:
            document["observability"] = {"enabled": True}
            added.append("[observability]")
        if not cfg.d1_databases:
            document.append(
                "d1_databases",
                {
                    "binding": D1_BINDING,
                    "database_name": DATABASE_NAME,
                    "database_id": str(uuid.uuid4()),
                    "migrations_dir": "migrations",
                },
            )
            added.append(f"[[d1_databases]] {D1_BINDING}")
        if not any(ns.binding == KV_BINDING for ns in cfg.kv_namespaces):
            document.append("kv_namespaces", {"binding": KV_BINDING, "id": _random.token_hex(16)})
            added.append(f"[[kv_namespaces]] {KV_BINDING}")
        if "vars" not in document:
            document["vars"] = {"ENVIRONMENT": "development"}
            added.append("[vars]")
        if "secrets" not in document:
            document["secrets"] = {"required": list(REQUIRED_SECRETS)}
            added.append("[secrets] required")

    cfg = editing.edit(path, extend)  # writes only if `extend` added something
    if added:
        result.created.append(f"{path.name}: {', '.join(added)}")
    else:
        result.kept.append(path.name)
    return cfg


def _copy_if_missing(source: Path, target: Path, result: InitResult) -> None:
    label = str(target.relative_to(result.root))
    if target.exists():
        result.kept.append(label)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    configmod.write_atomic(target, source.read_bytes())
    result.created.append(label)


def _copy_migrations(cfg: Config, result: InitResult) -> None:
    db = _database(cfg)
    folder = cfg.root / db.migrations_dir
    shipped = package_data("migrations")
    if folder.is_dir() and any(folder.glob("*.sql")):
        # An existing migrations folder is the project's own history: never add to it.
        result.kept.append(f"{db.migrations_dir}/")
        return
    _copy_if_missing(shipped / INITIAL_MIGRATION, folder / INITIAL_MIGRATION, result)
    _copy_if_missing(
        shipped / "down" / INITIAL_MIGRATION, folder / "down" / INITIAL_MIGRATION, result
    )


def _gitignore(root: Path, result: InitResult) -> None:
    from worktime_cli.project import text as config_text
    from worktime_cli.secrets import safety

    added = list(safety.ensure_gitignore(root))
    # node_modules/ is ours to add: init is what writes package.json. The file's bytes are
    # kept (CRLF, BOM, final newline), as for every file worktime edits.
    path = root / ".gitignore"
    original = config_text.read(path)
    if not any(line.strip() in _NODE_MODULES_LINES for line in original.text.splitlines()):
        configmod.write_atomic(path, original.restore(original.text + "node_modules/\n"))
        added.append("node_modules/")
    if added:
        result.created.append(f".gitignore: {', '.join(added)}")
    else:
        result.kept.append(".gitignore")


def _database(cfg: Config) -> configmod.D1Binding:
    for db in cfg.d1_databases:
        if db.binding == D1_BINDING or db.database_name == DATABASE_NAME:
            return db
    return cfg.d1_databases[0]


def _local_database(cfg: Config, persist_to: Path | None, result: InitResult) -> None:
    from worktime_cli import d1, migrations

    db = _database(cfg)
    path = d1.database_path(cfg, db, persist_to)
    existed = path.exists()
    # apply() creates a missing file itself (and takes no snapshot of a database that
    # did not exist); a project with no migrations still gets its empty file.
    applied = migrations.apply(cfg, db, persist_to).applied
    if not path.exists():
        d1.connect(path, create=True).close()
    if not existed:
        result.created.append(f"local D1 database {db.database_name}")
    if applied:
        result.created.append(f"migrations applied: {', '.join(applied)}")
    elif existed:
        result.kept.append(f"local D1 database {db.database_name} (migrations up to date)")


def _local_kv(cfg: Config, persist_to: Path | None, result: InitResult) -> None:
    from worktime_cli import kv
    from worktime_cli.project import state

    ns = (
        cfg.kv(binding=KV_BINDING)
        if any(n.binding == KV_BINDING for n in cfg.kv_namespaces)
        else None
    )
    if ns is None:
        return
    with kv.KVStore(state.root(cfg, persist_to), ns.local_id) as store:
        if store.exists:
            result.kept.append(f"local KV namespace {ns.binding}")
        else:
            store.create()
            result.created.append(f"local KV namespace {ns.binding} ({ns.local_id})")


def _secrets(cfg: Config, result: InitResult) -> None:
    from worktime_cli.secrets import environment

    env = environment.resolve(cfg)
    result.missing_secrets = env.missing
    if env.keyring_error:
        result.warnings.append(f"keyring: {env.keyring_error}")
