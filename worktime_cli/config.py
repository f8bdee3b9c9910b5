"""Find, read and edit wrangler.toml.

Reading uses tomllib (fast, stdlib). Editing uses tomlkit so the user's comments, key order
and layout survive: wrangler never writes this file, so we are the only tool that must be
careful with it. Writes go through a temp file + rename so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    import tomlkit.toml_document

CONFIG_NAMES = ("wrangler.toml",)
DEFAULT_MIGRATIONS_DIR = "migrations"
DEFAULT_MIGRATIONS_TABLE = "d1_migrations"


@dataclass(frozen=True)
class D1Binding:
    """One `[[d1_databases]]` entry, with wrangler's defaults applied."""

    binding: str
    database_name: str
    database_id: str | None = None
    preview_database_id: str | None = None
    migrations_dir: str = DEFAULT_MIGRATIONS_DIR
    migrations_table: str = DEFAULT_MIGRATIONS_TABLE

    @property
    def local_id(self) -> str:
        """The name wrangler/miniflare derive the local file from."""
        return self.preview_database_id or self.database_id or self.binding


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


@dataclass(frozen=True)
class Config:
    """A parsed wrangler.toml. `data` is the raw document for keys we do not model."""

    path: Path
    data: dict[str, Any] = field(repr=False)
    d1_databases: tuple[D1Binding, ...] = ()
    kv_namespaces: tuple[KVBinding, ...] = ()

    @property
    def root(self) -> Path:
        """The project folder: where wrangler.toml lives."""
        return self.path.parent

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None

    @property
    def account_id(self) -> str | None:
        value = self.data.get("account_id")
        return value if isinstance(value, str) else None

    def d1(self, name: str) -> D1Binding:
        """The database whose `database_name` or `binding` is `name` (wrangler accepts both)."""
        for db in self.d1_databases:
            if name in (db.database_name, db.binding):
                return db
        configured = ", ".join(db.database_name for db in self.d1_databases) or "none"
        raise NotFoundError(
            f"database {name!r} is not configured in {self.path.name} (configured: {configured})",
            hint=f"create it with `worktime d1 create {name}`",
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
        configured = ", ".join(ns.binding for ns in self.kv_namespaces) or "none"
        raise NotFoundError(
            f"KV binding {binding!r} is not configured in {self.path.name} (configured: {configured})",
            hint=f"create it with `worktime kv namespace create {binding}`",
        )


def find(explicit: Path | None = None, start: Path | None = None) -> Path:
    """The wrangler.toml to use: `explicit`, else the nearest one from `start` upwards."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"config file {explicit} not found",
                hint="check the --config path, or run `worktime init` to create a project",
            )
        return explicit.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"no wrangler.toml in {here} or any parent folder",
        hint="run `worktime init` or pass --config",
    )


def load(explicit: Path | None = None, start: Path | None = None) -> Config:
    """Find and parse wrangler.toml into a `Config`, validating what we model."""
    path = find(explicit, start)
    return parse(path, _read_text(path))


def parse(path: Path, text: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_message(path, exc), hint="fix the TOML syntax there") from None
    d1 = tuple(
        _d1_binding(path, i, entry) for i, entry in enumerate(_tables(path, data, "d1_databases"))
    )
    kv = tuple(
        _kv_binding(path, i, entry) for i, entry in enumerate(_tables(path, data, "kv_namespaces"))
    )
    seen: dict[str, str] = {}
    for kind, binding in [("d1_databases", b.binding) for b in d1] + [
        ("kv_namespaces", b.binding) for b in kv
    ]:
        if binding in seen:
            raise ConfigError(
                f"{path}: binding {binding!r} is used twice ([[{seen[binding]}]] and [[{kind}]])",
                hint="every binding name must be unique in wrangler.toml",
            )
        seen[binding] = kind
    names = [db.database_name for db in d1]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"{path}: database_name {name!r} is configured twice",
                hint="give each [[d1_databases]] entry its own database_name",
            )
    return Config(path=path, data=data, d1_databases=d1, kv_namespaces=kv)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


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
        raise ConfigError(f"{path}: `{key}` must be an array of tables ([[{key}]])")
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
    )


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


def edit(path: Path, change: Callable[[tomlkit.toml_document.TOMLDocument], None]) -> Config:
    """Apply `change` to the tomlkit document of `path` and write it back atomically.

    The result is re-validated before it is written, so an edit can never leave a
    wrangler.toml that we (or wrangler) would then refuse to read.
    """
    import tomlkit

    original = _read_text(path)
    document = tomlkit.parse(original)
    change(document)
    text = tomlkit.dumps(document)
    config = parse(path, text)
    if text != original:  # an edit that changes nothing leaves the file (and mtime) alone
        write_atomic(path, text.encode("utf-8"))
    return config


def append_table(path: Path, key: str, entry: dict[str, Any]) -> Config:
    """Append `entry` as a new `[[key]]` table, keeping everything else as it was."""
    import tomlkit

    def change(document: tomlkit.toml_document.TOMLDocument) -> None:
        table = tomlkit.table()
        for k, v in entry.items():
            table.add(k, v)
        if key in document:
            # The new entry goes right after its siblings; the blank line keeps the
            # file's rhythm (tomlkit would otherwise glue the next table onto it).
            table.add(tomlkit.nl())
            document[key].append(table)
        else:
            aot = tomlkit.aot()
            aot.append(table)
            document.append(key, aot)

    return edit(path, change)


def update_table(path: Path, key: str, match: dict[str, str], values: dict[str, Any]) -> Config:
    """Set `values` on the `[[key]]` table whose items equal `match`."""

    def change(document: tomlkit.toml_document.TOMLDocument) -> None:
        for table in document.get(key, []):
            if all(table.get(k) == v for k, v in match.items()):
                for k, v in values.items():
                    table[k] = v
                return
        raise NotFoundError(f"no [[{key}]] entry with {match} in {path}")

    return edit(path, change)


def remove_table(path: Path, key: str, match: dict[str, str]) -> Config:
    """Remove the `[[key]]` table whose items equal `match`; drop the key if it empties."""

    def change(document: tomlkit.toml_document.TOMLDocument) -> None:
        tables = document.get(key)
        if tables is None:
            raise NotFoundError(f"no [[{key}]] entries in {path}")
        for index, table in enumerate(tables):
            if all(table.get(k) == v for k, v in match.items()):
                del tables[index]
                if len(tables) == 0:
                    del document[key]
                return
        raise NotFoundError(f"no [[{key}]] entry with {match} in {path}")

    return edit(path, change)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def binding_from_name(name: str) -> str:
    """wrangler's binding for a database name: upper-case, non-alphanumerics → `_`, no leading digit."""
    binding = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    if not binding or binding[0].isdigit():
        binding = "_" + binding
    return binding
