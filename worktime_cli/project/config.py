"""Find and read wrangler's config (wrangler.json, wrangler.jsonc or wrangler.toml) into a `Config`.

Discovery, formats and environments follow wrangler 4 (`findWranglerConfig`,
`normalizeAndValidateConfig`), so worktime always reads the file and the section wrangler
would: `--env NAME` selects `[env.NAME]`, which inherits the top level's keys but never its
bindings, vars or secrets. Reading TOML uses tomllib (fast, stdlib); JSON/JSONC is read by
`jsonc`. The binding entries are `bindings`' (`D1Binding`, `KVBinding`, re-exported here as
part of what a `Config` holds); editing the file is `editing`'s.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from worktime_cli.errors import ConfigError, NotFoundError, UsageError
from worktime_cli.fsutil import write_atomic as write_atomic  # the one copy; callers import it here

# What a Config holds, importable with it: `from worktime_cli.project.config import Config, D1Binding`.
from worktime_cli.project.bindings import DEFAULT_MIGRATIONS_DIR as DEFAULT_MIGRATIONS_DIR
from worktime_cli.project.bindings import DEFAULT_MIGRATIONS_TABLE as DEFAULT_MIGRATIONS_TABLE
from worktime_cli.project.bindings import D1Binding as D1Binding
from worktime_cli.project.bindings import KVBinding as KVBinding
from worktime_cli.project.bindings import d1_binding, kv_binding

# wrangler looks for each name in every folder up to the root before trying the next name
# (`file("wrangler.json") ?? file("wrangler.jsonc") ?? file("wrangler.toml")`, each a
# find-up), so a wrangler.json in a parent folder wins over a wrangler.toml here. Same here.
CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")

Format = Literal["toml", "json", "jsonc"]

# Keys an `[env.NAME]` section does not inherit from the top level (wrangler's
# `notInheritable` fields of wrangler 4.86): bindings, vars, secrets, define. Every other key
# is inherited (`inheritable`), `name` with `-<env>` appended.
NON_INHERITABLE = frozenset(
    {
        "ai", "ai_search", "ai_search_namespaces", "analytics_engine_datasets", "artifacts",
        "browser", "cloudchamber", "containers", "d1_databases", "define", "dispatch_namespaces",
        "durable_objects", "flagship", "hyperdrive", "images", "kv_namespaces", "media",
        "mtls_certificates", "pipelines", "queues", "r2_buckets", "ratelimits", "secrets",
        "secrets_store_secrets", "send_email", "services", "stream", "streaming_tail_consumers",
        "tail_consumers", "unsafe", "unsafe_hello_world", "vars", "vectorize", "version_metadata",
        "vpc_networks", "vpc_services", "worker_loaders", "workflows",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Config:
    """A parsed wrangler config, with one environment selected (or the top level).

    `data` is the whole raw document; `section` is what wrangler uses for the selected
    environment: the env's own keys, inheritable top-level keys, never the top level's
    bindings/vars/secrets (wrangler does not inherit those).
    """

    path: Path
    data: dict[str, Any] = field(repr=False)
    d1_databases: tuple[D1Binding, ...] = ()
    kv_namespaces: tuple[KVBinding, ...] = ()
    env: str | None = None
    section: dict[str, Any] = field(default_factory=dict, repr=False)
    defined_envs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A Config built by hand (not by `parse`) reads as the top level.
        if not self.section and self.data and self.env is None:
            object.__setattr__(self, "section", {k: v for k, v in self.data.items() if k != "env"})

    @property
    def root(self) -> Path:
        """The project folder: where the config file lives."""
        return self.path.parent

    @property
    def format(self) -> Format:
        """`toml`, `json` or `jsonc`, from the file name as wrangler decides it."""
        return format_of(self.path)

    @property
    def name(self) -> str | None:
        """The Worker's name for the selected env (`<name>-<env>` unless the env sets one)."""
        value = self.section.get("name")
        return value if isinstance(value, str) else None

    @property
    def top_level_name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None

    @property
    def account_id(self) -> str | None:
        value = self.section.get("account_id")
        return value if isinstance(value, str) else None

    @property
    def main(self) -> str | None:
        value = self.section.get("main")
        return value if isinstance(value, str) else None

    @property
    def compatibility_date(self) -> str | None:
        value = self.section.get("compatibility_date")
        return value if isinstance(value, str) else None

    @property
    def section_path(self) -> tuple[str, ...]:
        """Where the selected section's keys live in the file: `("env", NAME)` or `()`.

        An env with no section of its own reads the top level (as wrangler), so edits made
        under it go there too: what was read is what gets edited.
        """
        if self.env is not None and self.env in self.defined_envs:
            return ("env", self.env)
        return ()

    def d1(self, name: str) -> D1Binding:
        """The database whose `database_name` or `binding` is `name` (wrangler accepts both)."""
        for db in self.d1_databases:
            if name in (db.database_name, db.binding):
                return db
        names = [db.database_name for db in self.d1_databases]
        raise NotFoundError(
            f"database {name!r} is not configured in {self._where()} "
            f"(configured: {', '.join(names) or 'none'})",
            hint=did_you_mean(
                name,
                names + [db.binding for db in self.d1_databases],
                shown=names,
                create=f"create it with `worktime d1 create {name}`",
            ),
        )

    def kv(self, binding: str | None = None, namespace_id: str | None = None) -> KVBinding:
        """The namespace named by binding or by id; an unknown id is used as-is (as wrangler)."""
        for ns in self.kv_namespaces:
            if binding is not None and ns.binding == binding:
                return ns
            if namespace_id is not None and namespace_id in (ns.id, ns.preview_id):
                return ns
        if namespace_id is not None:
            return KVBinding(binding=namespace_id, id=namespace_id)
        names = [ns.binding for ns in self.kv_namespaces]
        raise NotFoundError(
            f"KV binding {binding!r} is not configured in {self._where()} "
            f"(configured: {', '.join(names) or 'none'})",
            hint=did_you_mean(
                binding or "",
                names,
                shown=names,
                create=f"create it with `worktime kv namespace create {binding}`",
            ),
        )

    def _where(self) -> str:
        if self.section_path:
            return f"{self.path.name} [env.{self.env}]"
        return self.path.name


def did_you_mean(name: str, candidates: list[str], *, shown: list[str], create: str) -> str:
    """A typo gets the close names; a name far from all of them gets the list to pick from.

    Only a project with nothing configured is told to create one: a hint to create
    `worktime_db` next to a configured `worktime-db` would make a second, empty database.
    """
    if not candidates:
        return create
    import difflib  # only on this error path: it costs ~20 ms to import

    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close and name:
        # Case (`db` for `DB`) and abbreviations (`prod` for `production`) are the usual
        # slips that difflib scores low.
        close = [c for c in candidates if c.lower().startswith(name.lower())]
    if close:
        unique = list(dict.fromkeys(close))
        return "did you mean " + " or ".join(repr(c) for c in unique) + "?"
    return "use one of: " + ", ".join(shown)


def format_of(path: Path) -> Format:
    """wrangler's `configFormat`: by extension; anything else is read as TOML (as v1 did)."""
    name = path.name.lower()
    if name.endswith(".jsonc"):
        return "jsonc"
    if name.endswith(".json"):
        return "json"
    return "toml"


def find(explicit: Path | None = None, start: Path | None = None) -> Path:
    """The config file to use: `explicit`, else the one wrangler would find from `start`."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"config file {explicit} not found",
                hint="check the --config path, or run `worktime init` to create a project",
            )
        return explicit.resolve()
    here = (start or Path.cwd()).resolve()
    for name in CONFIG_NAMES:
        for folder in (here, *here.parents):
            candidate = folder / name
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"no wrangler.json, wrangler.jsonc or wrangler.toml in {here} or any parent folder",
        hint="run `worktime init` or pass --config",
    )


def find_in(folder: Path) -> Path | None:
    """The config file in `folder` itself, in wrangler's order, or None.

    For `init`: a folder that already has a wrangler.jsonc gets that file extended, never a
    second config next to it (wrangler would read only one of them).
    """
    for name in CONFIG_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def load(
    explicit: Path | None = None, start: Path | None = None, *, env: str | None = None
) -> Config:
    """Find and parse the config into a `Config` for `env` (None: the top level)."""
    path = find(explicit, start)
    return parse(path, _read_text(path), env=env)


def parse(path: Path, text: str, *, env: str | None = None) -> Config:
    """Parse `text` (the content of `path`, whose name says the format) for `env`."""
    data = _parse_data(path, text)
    defined, section, warnings = _select(path, data, env)
    d1 = tuple(
        d1_binding(path, i, entry) for i, entry in enumerate(_tables(path, section, "d1_databases"))
    )
    kv = tuple(
        kv_binding(path, i, entry)
        for i, entry in enumerate(_tables(path, section, "kv_namespaces"))
    )
    seen: dict[str, str] = {}
    for kind, binding in [("d1_databases", b.binding) for b in d1] + [
        ("kv_namespaces", b.binding) for b in kv
    ]:
        if binding in seen:
            raise ConfigError(
                f"{path}: binding {binding!r} is used twice ({seen[binding]} and {kind})",
                hint=f"every binding name must be unique in {path.name}",
            )
        seen[binding] = kind
    names = [db.database_name for db in d1]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"{path}: database_name {name!r} is configured twice",
                hint="give each d1_databases entry its own database_name",
            )
    return Config(
        path=path,
        data=data,
        d1_databases=d1,
        kv_namespaces=kv,
        env=env,
        section=section,
        defined_envs=defined,
        warnings=warnings,
    )


def _parse_data(path: Path, text: str) -> dict[str, Any]:
    if format_of(path) != "toml":
        from worktime_cli.project import jsonc as config_jsonc

        data = config_jsonc.loads(path, text)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the config must be a JSON object ({{ ... }})")
        return data
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_message(path, exc), hint="fix the TOML syntax there") from None
    except RecursionError:
        # tomllib recurses per nested array/inline table: 3,000 `[` exhaust the stack.
        raise ConfigError(
            f"{path}: nesting is too deep",
            hint="a wrangler config is never nested that deep; check the file",
        ) from None


def _select(
    path: Path, data: dict[str, Any], env: str | None
) -> tuple[tuple[str, ...], dict[str, Any], tuple[str, ...]]:
    """(defined env names, the selected section, warnings), as wrangler resolves `--env`."""
    envs = data.get("env", {})
    if not isinstance(envs, dict) or not all(isinstance(v, dict) for v in envs.values()):
        raise ConfigError(f"{path}: `env` must map environment names to tables")
    defined = tuple(envs)
    top = {k: v for k, v in data.items() if k != "env"}
    if env is None:
        return defined, top, ()
    from worktime_cli.project.devvars import validate_env

    validate_env(env)  # before it is echoed: a newline in it would forge an `error:` line
    if env not in envs:
        # wrangler errors only when other environments exist, and otherwise warns and keeps
        # the top level, bindings included: `d1 execute --remote --env production` would then
        # write to the top-level database. A name the config does not define is refused.
        add = f"add an `[env.{env}]` section to {path.name} (bindings are not inherited)"
        if not defined:
            raise UsageError(
                f"{path}: no environment {env!r} (none is defined)",
                hint=f"{add}, or leave out --env / CLOUDFLARE_ENV for the top level",
            )
        raise UsageError(
            f"{path}: no environment {env!r} (defined: {', '.join(defined)})",
            hint=did_you_mean(env, list(defined), shown=list(defined), create=add),
        )
    raw: dict[str, Any] = envs[env]
    section = {k: v for k, v in top.items() if k not in NON_INHERITABLE}
    if isinstance(top.get("name"), str):
        section["name"] = f"{top['name']}-{env}"
    section.update(raw)
    warnings = tuple(
        f'"{key}" exists at the top level, but not on "env.{env}": '
        f"it is not inherited by environments"
        for key in sorted(NON_INHERITABLE & top.keys() - raw.keys())
    )
    return defined, section, warnings


def _read_text(path: Path) -> str:
    """The text parsers see: as wrangler reads it (UTF-8, a BOM dropped), CRLF as LF."""
    from worktime_cli.project import text as config_text

    return config_text.read(path).text


_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _syntax_message(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """`file:line:column: message`, the form editors and terminals make clickable."""
    text = str(exc)
    match = _POSITION.search(text)
    if match is None:
        return f"{path}: invalid TOML: {text}"
    message = text[: match.start()].strip()
    return f"{path}:{match.group(1)}:{match.group(2)}: invalid TOML: {message}"


def _tables(path: Path, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        shape = f"[[{key}]]" if format_of(path) == "toml" else f'"{key}": [{{ ... }}]'
        raise ConfigError(f"{path}: `{key}` must be an array of tables ({shape})")
    return value


def d1_everywhere(cfg: Config) -> list[tuple[str | None, D1Binding]]:
    """Every `[[d1_databases]]` entry of the file: the top level's (None) and each env's.

    For questions about the whole file, such as whether two environments give one
    database_name to different local databases; entries that do not parse are left out
    (the selected section was checked when the config loaded).
    """
    found: list[tuple[str | None, D1Binding]] = []
    envs = cfg.data.get("env")
    sections: list[tuple[str | None, Any]] = [(None, cfg.data)]
    sections += [(name, s) for name, s in (envs.items() if isinstance(envs, dict) else ())]
    for env, section in sections:
        entries = section.get("d1_databases") if isinstance(section, dict) else None
        for index, entry in enumerate(entries if isinstance(entries, list) else ()):
            if isinstance(entry, dict):
                with contextlib.suppress(ConfigError):
                    found.append((env, d1_binding(cfg.path, index, entry)))
    return found
