"""The bindings a config declares: `[[d1_databases]]` and `[[kv_namespaces]]` entries.

`D1Binding` and `KVBinding` with wrangler's defaults, each read from one table of the file
(every field checked, so a bad entry names itself: `d1_databases[1].database_id`), the
migrations folder and pattern as wrangler normalises them, and the binding wrangler names a
new database with. `config` builds a `Config` from these; nothing here finds or reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from worktime_cli.errors import ConfigError

DEFAULT_MIGRATIONS_DIR = "migrations"
DEFAULT_MIGRATIONS_TABLE = "d1_migrations"


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


def _str_field(path: Path, where: str, entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {where}.{key} must be a non-empty string")
    return value


def d1_binding(path: Path, index: int, entry: dict[str, Any]) -> D1Binding:
    """`d1_databases[index]` of the file at `path`, with wrangler's defaults applied."""
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


def kv_binding(path: Path, index: int, entry: dict[str, Any]) -> KVBinding:
    """`kv_namespaces[index]` of the file at `path`."""
    where = f"kv_namespaces[{index}]"
    binding = _str_field(path, where, entry, "binding")
    if binding is None:
        raise ConfigError(f"{path}: {where} has no `binding`")
    return KVBinding(
        binding=binding,
        id=_str_field(path, where, entry, "id"),
        preview_id=_str_field(path, where, entry, "preview_id"),
    )


def binding_from_name(name: str) -> str:
    """wrangler's binding for a database name: upper-case, non-alphanumerics → `_`, no leading digit."""
    binding = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    if not binding or binding[0].isdigit():
        binding = "_" + binding
    return binding
