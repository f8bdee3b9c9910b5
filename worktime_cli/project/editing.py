"""Edit a config file in place: one `Document` API for TOML and JSON/JSONC.

TOML is edited with tomlkit so comments, key order and layout survive; JSON/JSONC through
`jsonc` (text splices at parsed offsets, as wrangler's own jsonc-parser `modify` edits). Every
edit is re-validated (`config.parse`) and written through a temp file + rename, so a crash
never leaves half a file, and keeps the file's BOM, line endings and final newline (`text`).
Paths are relative to the selected environment's section, so callers never branch on the
format or the environment.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, NotFoundError
from worktime_cli.fsutil import write_atomic
from worktime_cli.project.config import Config, format_of, parse

if TYPE_CHECKING:
    import tomlkit.container
    import tomlkit.toml_document

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
