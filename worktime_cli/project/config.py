"""Find, read and edit wrangler's config: wrangler.json, wrangler.jsonc or wrangler.toml.

Discovery, formats and environments follow wrangler 4 (`findWranglerConfig`,
`normalizeAndValidateConfig`), so worktime always reads the file and the section wrangler
would. Reading TOML uses tomllib (fast, stdlib); editing it uses tomlkit so comments, key
order and layout survive. JSON/JSONC is read and edited by `config_jsonc` (text splices at
parsed offsets, as wrangler's own jsonc-parser `modify` edits). Every edit is re-validated
and written through a temp file + rename, so a crash never leaves half a file, and keeps
the file's BOM, line endings and final newline (`config_text`).
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from worktime_cli.errors import ConfigError, NotFoundError, UsageError
from worktime_cli.fsutil import write_atomic as write_atomic  # the one copy; callers import it here

if TYPE_CHECKING:
    import tomlkit.container
    import tomlkit.toml_document

# wrangler looks for each name in every folder up to the root before trying the next name
# (`file("wrangler.json") ?? file("wrangler.jsonc") ?? file("wrangler.toml")`, each a
# find-up), so a wrangler.json in a parent folder wins over a wrangler.toml here. Same here.
CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
DEFAULT_MIGRATIONS_DIR = "migrations"
DEFAULT_MIGRATIONS_TABLE = "d1_migrations"

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


def normalize_relative_path(path: str) -> str:
    """wrangler's `normalizeRelativePath`: `\\` → `/`, node's `path.posix.normalize`, no
    trailing `/` (`./migrations/` → `migrations`)."""
    p = path.replace("\\", "/")
    if p == "":
        return "."
    absolute = p.startswith("/")
    trailing = p.endswith("/")
    parts: list[str] = []
    for segment in p.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not absolute:
                parts.append("..")
            continue
        parts.append(segment)
    out = "/".join(parts)
    if not out and not absolute:
        out = "."
    if out and trailing:
        out += "/"
    out = ("/" if absolute else "") + out
    return out[:-1] if out.endswith("/") else out


def strip_dir_prefix(pattern: str, folder: str) -> str | None:
    """`pattern` relative to `folder` (both normalised); None when it does not start with
    `${folder}/` (wrangler's error)."""
    if folder == ".":
        return pattern
    prefix = folder + "/"
    return pattern[len(prefix) :] if pattern.startswith(prefix) else None


@dataclass(frozen=True)
class D1Binding:
    """One `[[d1_databases]]` entry, with wrangler's defaults applied."""

    binding: str
    database_name: str
    database_id: str | None = None
    preview_database_id: str | None = None
    migrations_dir: str = DEFAULT_MIGRATIONS_DIR
    migrations_table: str = DEFAULT_MIGRATIONS_TABLE
    # wrangler >= 4.98: a glob relative to the config that picks the migration files (None:
    # `${migrations_dir}/*.sql`); checked when migrations are read (`migrations_glob`), as
    # wrangler does, so a bad one does not stop `dev` or `kv`.
    migrations_pattern: str | None = None
    # Whether `migrations_dir` was written in the config (wrangler refuses a pattern without).
    migrations_dir_set: bool = True

    @property
    def local_id(self) -> str:
        """The name wrangler/miniflare derive the local file from."""
        return self.preview_database_id or self.database_id or self.binding

    def previewed(self, config_name: str = "wrangler.toml") -> D1Binding:
        """This binding aimed at its `preview_database_id` (wrangler's `--preview`), or
        wrangler's error when it has none."""
        if not self.preview_database_id:
            raise ConfigError(
                f"Please define a `preview_database_id` in your {config_name} file to execute "
                "your queries against a preview database",
                hint=f"add preview_database_id to the {self.binding!r} binding, or drop --preview",
            )
        return replace(self, database_id=self.preview_database_id)

    def migrations_glob(self, config_name: str = "wrangler.toml") -> str | None:
        """`migrations_pattern` relative to `migrations_dir` (None: no pattern set), or
        wrangler's own error (`resolveMigrationsConfig`) when it cannot be used."""
        raw = self.migrations_pattern
        if raw is None:
            return None
        if not self.migrations_dir_set:
            raise ConfigError(
                f'You have set `migrations_pattern: "{raw}"` in your {config_name} file but '
                "have not set `migrations_dir` for this D1 binding.\n\nWhen "
                "`migrations_pattern` is set, `migrations_dir` must also be set, and "
                "`migrations_pattern` must start with `${migrations_dir}/`. Add a "
                f"`migrations_dir` entry to your {config_name} file (for example, "
                '`"migrations_dir": "migrations"`).'
            )
        folder = normalize_relative_path(self.migrations_dir)
        relative = strip_dir_prefix(normalize_relative_path(raw), folder)
        if relative is None:
            suggested = normalize_relative_path(f"{folder}/*.sql")
            raise ConfigError(
                f'The configured `migrations_pattern: "{raw}"` in your {config_name} file must '
                f'start with `{folder}/` to match `"migrations_dir": "{folder}"`.\n\nEither '
                f"change `migrations_pattern` so it starts with `{folder}/` (for example, "
                f'`"{suggested}"`), or change `migrations_dir` to match the start of your '
                "pattern."
            )
        return relative


@dataclass(frozen=True)
class KVBinding:
    """One `[[kv_namespaces]]` entry."""

    binding: str
    id: str | None = None
    preview_id: str | None = None

    @property
    def local_id(self) -> str:
        """The namespace id miniflare uses on disk: `preview_id ?? id ?? binding`."""
        return self.preview_id or self.id or self.binding

    def previewed(self, preview: bool | None) -> KVBinding:
        """This binding as wrangler's `--preview` (`getKVNamespaceId`) picks it: True, its
        preview_id; False, its id; None (flag not given), itself. Locally the chosen id is
        also the folder, as `wrangler kv … --local --preview` uses it."""
        if preview is None:
            return self
        if preview:
            if not self.preview_id:
                raise ConfigError(
                    f"No preview namespace ID is configured for binding {self.binding!r}",
                    hint=f"add a preview_id to the {self.binding!r} entry in kv_namespaces, "
                    "or pass --namespace-id",
                )
            return replace(self, id=self.preview_id)
        if not self.id:
            raise ConfigError(
                f"No namespace ID is configured for binding {self.binding!r}",
                hint=f"add an id to the {self.binding!r} entry in kv_namespaces, or pass "
                "--namespace-id",
            )
        return replace(self, preview_id=None)


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
        _d1_binding(path, i, entry)
        for i, entry in enumerate(_tables(path, section, "d1_databases"))
    )
    kv = tuple(
        _kv_binding(path, i, entry)
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


def _str_field(path: Path, where: str, entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {where}.{key} must be a non-empty string")
    return value


def _d1_binding(path: Path, index: int, entry: dict[str, Any]) -> D1Binding:
    where = f"d1_databases[{index}]"
    binding = _str_field(path, where, entry, "binding")
    name = _str_field(path, where, entry, "database_name")
    if binding is None:
        raise ConfigError(f"{path}: {where} has no `binding`")
    return D1Binding(
        binding=binding,
        database_name=name or binding,
        database_id=_str_field(path, where, entry, "database_id"),
        preview_database_id=_str_field(path, where, entry, "preview_database_id"),
        migrations_dir=_str_field(path, where, entry, "migrations_dir") or DEFAULT_MIGRATIONS_DIR,
        migrations_table=_str_field(path, where, entry, "migrations_table")
        or DEFAULT_MIGRATIONS_TABLE,
        migrations_pattern=_str_field(path, where, entry, "migrations_pattern"),
        migrations_dir_set=entry.get("migrations_dir") is not None,
    )


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
                    found.append((env, _d1_binding(cfg.path, index, entry)))
    return found


def _kv_binding(path: Path, index: int, entry: dict[str, Any]) -> KVBinding:
    where = f"kv_namespaces[{index}]"
    binding = _str_field(path, where, entry, "binding")
    if binding is None:
        raise ConfigError(f"{path}: {where} has no `binding`")
    return KVBinding(
        binding=binding,
        id=_str_field(path, where, entry, "id"),
        preview_id=_str_field(path, where, entry, "preview_id"),
    )


# --- editing -------------------------------------------------------------------------------

Key = str | int


class Document:
    """A config file being edited, the same API for TOML and JSON/JSONC.

    Paths are relative to the selected section (`[env.NAME]` when the config being edited
    has one selected), so callers never branch on the format or the environment. `top()`
    gives the same document rooted at the top level. The mapping methods (`in`, `[]`,
    `setdefault`) act on the section's own keys, for callbacks written against a dict.
    """

    def __init__(self, prefix: tuple[str, ...] = ()) -> None:
        self.prefix = prefix

    # The backends implement these five on full paths from the top of the file.
    def _get(self, keys: Sequence[Key]) -> Any:
        raise NotImplementedError

    def _set(self, keys: Sequence[Key], value: Any) -> None:
        raise NotImplementedError

    def _append(self, keys: Sequence[Key], value: Any) -> None:
        raise NotImplementedError

    def _remove(self, keys: Sequence[Key]) -> None:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def _rooted(self, prefix: tuple[str, ...]) -> Document:
        raise NotImplementedError

    def top(self) -> Document:
        """This document with paths from the top of the file (for `name`, `main`, …)."""
        return self._rooted(())

    def get(self, keys: Key | Sequence[Key], default: Any = None) -> Any:
        """The plain value (dict/list/str/…) at `keys`, or `default` when it is missing."""
        value = self._get(self._full(keys))
        return default if value is None else value

    def set(self, keys: Key | Sequence[Key], value: Any) -> None:
        """Set `keys` to `value`, creating missing tables on the way."""
        self._set(self._full(keys), value)

    def append(self, keys: Key | Sequence[Key], value: Any) -> None:
        """Append `value` to the array (of tables) at `keys`, creating it when missing."""
        self._append(self._full(keys), value)

    def remove(self, keys: Key | Sequence[Key]) -> None:
        """Remove the key or array element at `keys` (KeyError when it is missing)."""
        self._remove(self._full(keys))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._get(self._full(key)) is not None

    def __getitem__(self, key: str) -> Any:
        value = self._get(self._full(key))
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._set(self._full(key), value)

    def __delitem__(self, key: str) -> None:
        self._remove(self._full(key))

    def setdefault(self, key: str, default: Any) -> _Appender:
        """`doc.setdefault("d1_databases", []).append(entry)`, as on a dict: the array is
        created only when something is appended, and appends reach the file."""
        return _Appender(self, key)

    def _full(self, keys: Key | Sequence[Key]) -> tuple[Key, ...]:
        if isinstance(keys, str | int):
            keys = (keys,)
        return (*self.prefix, *keys)


class _Appender:
    # A plain class, not a dataclass: config is imported by every command.
    def __init__(self, document: Document, key: str) -> None:
        self.document = document
        self.key = key

    def append(self, value: Any) -> None:
        self.document.append(self.key, value)


class _TomlDocument(Document):
    def __init__(
        self, document: tomlkit.toml_document.TOMLDocument, prefix: tuple[str, ...] = ()
    ) -> None:
        super().__init__(prefix)
        self.document = document

    def _rooted(self, prefix: tuple[str, ...]) -> Document:
        return _TomlDocument(self.document, prefix)

    def text(self) -> str:
        import tomlkit

        return tomlkit.dumps(self.document)

    def _walk(self, keys: Sequence[Key], *, create: bool = False) -> Any:
        import tomlkit

        node: Any = self.document
        for key in keys:
            if isinstance(key, int) or key in node:
                node = node[key]
            elif create:
                # `[env.production]` that is not there yet: a real table of its own.
                node[key] = tomlkit.table(is_super_table=False)
                node = node[key]
            else:
                raise KeyError(key)
        return node

    def _get(self, keys: Sequence[Key]) -> Any:
        try:
            node = self._walk(keys)
        except (KeyError, IndexError, TypeError):
            return None
        unwrap = getattr(node, "unwrap", None)
        return unwrap() if callable(unwrap) else node

    def _set(self, keys: Sequence[Key], value: Any) -> None:
        parent = self._walk(keys[:-1], create=True)
        parent[keys[-1]] = value

    def _append(self, keys: Sequence[Key], value: Any) -> None:
        import tomlkit
        from tomlkit.items import AoT, Array, InlineTable

        parent = self._walk(keys[:-1], create=True)
        key = keys[-1]
        existing = parent.get(key) if key in parent else None
        if isinstance(value, dict) and (
            isinstance(parent, InlineTable) or isinstance(existing, Array)
        ):
            # `kv_namespaces = [{ ... }]` or `production = { ... }`: a `[[table]]` cannot go
            # inside either, so the entry is written the way the file already writes them.
            inline = tomlkit.inline_table()
            inline.update(_plain_toml(value))
            if existing is None:
                parent[key] = tomlkit.array()
                parent[key].append(inline)
            else:
                existing.append(inline)
        elif isinstance(value, dict):
            table = _toml_table(value)
            if isinstance(existing, AoT):
                # The new entry goes right after its siblings; the blank line keeps the
                # file's rhythm (tomlkit would otherwise glue the next table onto it).
                table.add(tomlkit.nl())
                existing.append(table)
            else:
                if parent is not self.document:
                    table.add(tomlkit.nl())  # a nested [[env.x.key]] may have tables after it
                aot = tomlkit.aot()
                aot.append(table)
                parent.append(key, aot)
        elif existing is not None:
            existing.append(value)
        else:
            parent[key] = [value]

    def _remove(self, keys: Sequence[Key]) -> None:
        parent = self._walk(keys[:-1])
        try:
            del parent[keys[-1]]
        except IndexError:
            raise KeyError(keys[-1]) from None


def _plain_toml(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _toml_table(value: dict[str, Any]) -> Any:
    import tomlkit

    unwrap = getattr(value, "unwrap", None)
    if callable(unwrap) and hasattr(value, "add"):
        return value  # already a tomlkit table: keep its formatting
    table = tomlkit.table()
    for k, v in value.items():
        table.add(k, v)
    return table


class _JsoncDocument(Document):
    def __init__(self, source: Any, prefix: tuple[str, ...] = ()) -> None:
        super().__init__(prefix)
        self.source = source  # a config_jsonc.JsoncText, shared by every rooting

    def _rooted(self, prefix: tuple[str, ...]) -> Document:
        return _JsoncDocument(self.source, prefix)

    def text(self) -> str:
        return str(self.source.text)

    def _get(self, keys: Sequence[Key]) -> Any:
        return self.source.get(keys)

    def _set(self, keys: Sequence[Key], value: Any) -> None:
        self.source.set(keys, value)

    def _append(self, keys: Sequence[Key], value: Any) -> None:
        self.source.append(keys, value)

    def _remove(self, keys: Sequence[Key]) -> None:
        self.source.remove(keys)


EditTarget = Config | Path


def _target(target: EditTarget) -> tuple[Path, str | None, tuple[str, ...]]:
    if isinstance(target, Config):
        return target.path, target.env, target.section_path
    return target, None, ()


def edit(target: EditTarget, change: Callable[[Document], object]) -> Config:
    """Apply `change` to the document of `target` and write it back atomically.

    `target` is a `Config` (its selected env's section is edited) or a path (the top
    level). The result is re-validated before it is written, so an edit can never leave a
    config that we (or wrangler) would then refuse to read. Returns the new `Config`, with
    the same env selected.
    """
    from worktime_cli.project import text as config_text

    path, env, prefix = _target(target)
    source = config_text.read(path)
    original = source.text  # no BOM, LF: `restore` puts the file's own layout back
    parse(path, original, env=env)  # refuse to edit what we cannot read (deep nesting too)
    document: Document
    if format_of(path) == "toml":
        import tomlkit

        document = _TomlDocument(tomlkit.parse(original), prefix)
    else:
        from worktime_cli.project import jsonc as config_jsonc

        document = _JsoncDocument(config_jsonc.JsoncText(path, original), prefix)
    try:
        change(document)
    except Exception as exc:
        import tomlkit.exceptions

        if not isinstance(exc, tomlkit.exceptions.TOMLKitError):
            raise
        raise _broken_edit(path) from None
    text = document.text()
    if isinstance(document, _TomlDocument):
        try:
            tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError):
            raise _broken_edit(path) from None  # the JSON side checks each splice itself
    config = parse(path, text, env=env)  # bindings still unique, entries still complete
    data = source.restore(text)  # BOM, line endings and final newline as they were
    if data != source.data:  # an edit that changes nothing leaves the file (and mtime) alone
        write_atomic(path, data)
    return config


def _broken_edit(path: Path) -> ConfigError:
    """An edit whose result would not parse: ours to refuse, not the user's to fix."""
    return ConfigError(
        f"{path}: worktime could not make this edit without breaking the file",
        hint=f"make the change by hand; {path.name} was not touched",
    )


def append_table(target: EditTarget, key: str, entry: dict[str, Any]) -> Config:
    """Append `entry` as a new `[[key]]` table / `"key": [..., entry]` element."""
    return edit(target, lambda document: document.append(key, dict(entry)))


def _matching(document: Document, key: str, match: dict[str, str], path: Path) -> Iterator[int]:
    tables = document.get(key)
    if not isinstance(tables, list):
        raise NotFoundError(f"no {key} entries in {path}")
    for index, table in enumerate(tables):
        if isinstance(table, dict) and all(table.get(k) == v for k, v in match.items()):
            yield index


def update_table(
    target: EditTarget, key: str, match: dict[str, str], values: dict[str, Any]
) -> Config:
    """Set `values` on the `[[key]]` table whose items equal `match`."""
    path, _, _ = _target(target)

    def change(document: Document) -> None:
        for index in _matching(document, key, match, path):
            for k, v in values.items():
                document.set((key, index, k), v)
            return
        raise NotFoundError(f"no {key} entry with {match} in {path}")

    return edit(target, change)


def remove_table(target: EditTarget, key: str, match: dict[str, str]) -> Config:
    """Remove the `[[key]]` table whose items equal `match`; drop the key if it empties."""
    path, _, _ = _target(target)

    def change(document: Document) -> None:
        for index in _matching(document, key, match, path):
            if len(document.get(key)) == 1:
                document.remove(key)
            else:
                document.remove((key, index))
            return
        raise NotFoundError(f"no {key} entry with {match} in {path}")

    return edit(target, change)


def binding_from_name(name: str) -> str:
    """wrangler's binding for a database name: upper-case, non-alphanumerics → `_`, no leading digit."""
    binding = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    if not binding or binding[0].isdigit():
        binding = "_" + binding
    return binding
