"""Masking personal data while a database is copied: rules, deterministic maskers, no leaks.

Rules come from a TOML file (docs/sanitize.md)::

    # optional: a secret per project, so nobody can hash candidate emails to match them
    salt = "a long random string"

    [columns]
    "users.email" = "fake-email"
    "users.github_username" = "fake-username"
    "users.avatar_url" = "null"
    "time_sessions.repo_name" = "hash"
    "users.last_active" = "keep"
    "daily_stats.repo_owner" = "fixed:acme"

Each key is `table.column` (matched case-insensitively, as SQLite matches names; quote a
name holding a dot: `'"my.table".col'`). Rules:

- `null`: the value becomes NULL.
- `keep`: unchanged (documents that a column was looked at and is not personal).
- `hash`: a keyed hash of the value, same type: text → 32 hex characters, integer → a
  non-negative 62-bit integer, BLOB → 16 bytes, real → a real in [0, 1).
- `fake-email`: `user-<12 hex>@example.invalid` (a reserved domain: nothing is ever sent).
- `fake-username`: `user-<12 hex>`.
- `fake-name`: a first and last name from a short list plus a 6-hex suffix (`Ada Hopper 3f9a1c`).
- `fixed:VALUE`: the text VALUE.

Every rule but `null` and `keep` leaves NULL as NULL. Every masker is **deterministic**: the
same input gives the same output (HMAC-SHA256 keyed by the salt, or a built-in key without
one), in every table and every run, so a masked value still joins with the same value
masked elsewhere, and distinct inputs stay distinct (a collision needs 2^48 values), so
UNIQUE constraints hold. Without a salt the key is public: a guessed email can be hashed and
compared, so set a salt when the masked copy leaves your machine.

`DEFAULT_RULES` covers the seed schema: users.email, users.github_username, users.avatar_url.

Nothing unmasked touches the disk: the source (a SQL dump read as a stream of text, or a
SQLite file opened read-only) is loaded into an in-memory SQLite database with
`temp_store = MEMORY` (so sorts and statement journals do not spill to temp files either),
masked there with UPDATEs calling registered SQL functions (`secure_delete` on, so the
replaced values are zeroed in memory too), and only then written to the target file with
`VACUUM INTO`, which copies rows, never pages, so no slack of a page can carry an old
value. The unmasked copy exists only in this process's memory. Triggers of a masked table
are dropped for the UPDATE and re-created after (an `updated_at` trigger must not change the
copy); foreign keys stay off while loading and masking, as for any dump import, so a masked
key is not cascaded: mask both ends of a join with the same rule, and they still match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.errors import ConfigError, SQLError
from worktime_cli.sqlite.errors import storage_error
from worktime_cli.sqlite.script import INTERNAL_TABLE_PREFIXES, quote_identifier

NULL = "null"
KEEP = "keep"
HASH = "hash"
FAKE_EMAIL = "fake-email"
FAKE_USERNAME = "fake-username"
FAKE_NAME = "fake-name"
FIXED = "fixed"
KINDS = (NULL, KEEP, HASH, FAKE_EMAIL, FAKE_USERNAME, FAKE_NAME, FIXED)

_BUILTIN_KEY = b"worktime-sanitize-v1"
_FIRST = ("Ada", "Alan", "Barbara", "Dennis", "Edsger", "Frances", "Grace", "Ken")
_LAST = ("Allen", "Dijkstra", "Hopper", "Kernighan", "Liskov", "Lovelace", "Ritchie", "Turing")


@dataclass(frozen=True)
class Rule:
    """How one column is masked: `kind` (one of KINDS), `value` for `fixed:VALUE`."""

    kind: str
    value: str | None = None

    def text(self) -> str:
        return f"{FIXED}:{self.value}" if self.kind == FIXED else self.kind


@dataclass(frozen=True)
class Rules:
    """`(table, column)` (lower-case) → Rule, the salt, and where the rules came from."""

    columns: Mapping[tuple[str, str], Rule]
    salt: str | None = None
    source: str = "default rules"

    def for_table(self, table: str) -> dict[str, Rule]:
        wanted = table.lower()
        return {c: r for (t, c), r in self.columns.items() if t == wanted}


DEFAULT_RULES = Rules(
    {
        ("users", "email"): Rule(FAKE_EMAIL),
        ("users", "github_username"): Rule(FAKE_USERNAME),
        ("users", "avatar_url"): Rule(NULL),
    }
)


def parse_rule(text: str) -> Rule | None:
    """`fake-email` → Rule; None when `text` names no rule."""
    kind, sep, value = text.partition(":")
    if sep:
        return Rule(FIXED, value) if kind.strip() == FIXED else None
    return Rule(text.strip()) if text.strip() in KINDS and text.strip() != FIXED else None


def _split_key(key: str) -> tuple[str, str] | None:
    """`table.column`, either part optionally double-quoted (a name holding a dot)."""
    parts: list[str] = []
    i = 0
    while i < len(key):
        if key[i] == '"':
            end = i + 1
            name = ""
            while True:
                close = key.find('"', end)
                if close < 0:
                    return None
                name += key[end:close]
                if key.startswith('""', close):
                    name += '"'
                    end = close + 2
                    continue
                i = close + 1
                break
            parts.append(name)
        else:
            dot = key.find(".", i)
            dot = len(key) if dot < 0 else dot
            parts.append(key[i:dot])
            i = dot
        if i < len(key):
            if key[i] != ".":
                return None
            i += 1
            if i == len(key):
                return None
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def parse_rules(text: str, source: str) -> Rules:
    """Rules from TOML text (see the module docstring); `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"salt", "columns"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)}", hint="use `salt` and `[columns]`"
        )
    salt = data.get("salt")
    if salt is not None and (not isinstance(salt, str) or not salt):
        raise ConfigError(f"{source}: `salt` must be a non-empty string")
    table = data.get("columns", {})
    if not isinstance(table, dict):
        raise ConfigError(f'{source}: `columns` must be a table of "table.column" = "rule"')
    columns: dict[tuple[str, str], Rule] = {}
    for key, value in table.items():
        where = _split_key(key)
        if where is None:
            raise ConfigError(
                f"{source}: {key!r} is not `table.column`",
                hint="quote a name holding a dot: '\"my.table\".column'",
            )
        rule = parse_rule(value) if isinstance(value, str) else None
        if rule is None:
            raise ConfigError(
                f"{source}: {key} = {value!r} is not a rule",
                hint=f"rules: {', '.join(KINDS[:-1])}, fixed:VALUE",
            )
        columns[(where[0].lower(), where[1].lower())] = rule
    return Rules(columns, salt, source)


def load_rules(path: Path | None) -> Rules:
    """The rules file at `path`, or `DEFAULT_RULES` when `path` is None."""
    if path is None:
        return DEFAULT_RULES
    with fsutil.translated(path, "read"):
        text = path.read_text(encoding="utf-8")
    return parse_rules(text, str(path))


# --- maskers ---------------------------------------------------------------------------------


class Masker:
    """The deterministic maskers, keyed by the rules' salt."""

    def __init__(self, salt: str | None = None) -> None:
        self._key = _BUILTIN_KEY if salt is None else b"salt:" + salt.encode("utf-8")

    def digest(self, value: Any) -> bytes:
        # The type is part of the input: 1 and '1' are different values to SQLite.
        if isinstance(value, bytes):
            data = b"b" + value
        elif isinstance(value, int):
            data = b"i" + str(value).encode()
        elif isinstance(value, float):
            data = b"r" + repr(value).encode()
        else:
            data = b"t" + str(value).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def mask(self, rule: Rule, value: Any) -> Any:
        if rule.kind == NULL:
            return None
        if rule.kind == KEEP or value is None:
            return value
        if rule.kind == FIXED:
            return rule.value
        digest = self.digest(value)
        if rule.kind == HASH:
            if isinstance(value, bytes):
                return digest[:16]
            if isinstance(value, int):
                return int.from_bytes(digest[:8], "big") >> 2
            if isinstance(value, float):
                return int.from_bytes(digest[:7], "big") / 2**56
            return digest[:16].hex()
        if rule.kind == FAKE_EMAIL:
            return f"user-{digest[:6].hex()}@example.invalid"
        if rule.kind == FAKE_USERNAME:
            return f"user-{digest[:6].hex()}"
        if rule.kind == FAKE_NAME:
            first = _FIRST[digest[0] % len(_FIRST)]
            last = _LAST[digest[1] % len(_LAST)]
            return f"{first} {last} {digest[2:5].hex()}"
        raise AssertionError(f"unknown rule {rule.kind}")  # parse_rule admits only KINDS


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskedColumn:
    table: str
    column: str
    rule: str
    rows: int  # rows whose value the rule changed

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "rule": self.rule, "rows": self.rows}


@dataclass(frozen=True)
class SanitizeResult:
    """A masked copy written to `path`: what was masked, and the rules that matched nothing."""

    path: Path
    rules: str
    tables: int
    masked: tuple[MaskedColumn, ...]
    unmatched: tuple[str, ...] = field(default=())  # `table.column` keys with no such column

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rules": self.rules,
            "tables": self.tables,
            "masked": [m.to_json() for m in self.masked],
            "unmatched": list(self.unmatched),
        }


# --- the copy --------------------------------------------------------------------------------


def memory_database() -> sqlite3.Connection:
    """An in-memory database whose temporary files stay in memory too (see the docstring)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA temp_store = MEMORY")
    # An UPDATE leaves the old value in freed pages and in the slack of the pages it
    # rewrites (an index's above all); secure_delete zeroes them, and `write` copies rows,
    # not pages, besides.
    conn.execute("PRAGMA secure_delete = ON")
    return conn


_BATCH_BYTES = 1 << 20
# The dump's own transaction statements (`sqlite3 .dump` writes BEGIN TRANSACTION … COMMIT):
# dropped, because a batch run by `executescript` commits what is open before it runs.
_TRANSACTION = re.compile(
    r"\s*(?:BEGIN(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+TRANSACTION)?"
    r"|(?:COMMIT|END)(?:\s+TRANSACTION)?)\s*;\s*$",
    re.I,
)


def dump_statements(chunks: Iterable[str]) -> Iterator[str]:
    """Batches of complete statements from a SQL dump arriving as text chunks.

    Unlike the script splitter this has no 100,000-byte cap: a dump of a D1 database may hold
    one INSERT per row of up to 2 MB. A statement ends at a line's end (dumps write one per
    line) where `sqlite3.complete_statement` agrees, so a `;` inside a string or a trigger
    body never ends one. A top-level BEGIN/COMMIT line is dropped (`_TRANSACTION`); a
    ROLLBACK is kept, so a dump that gave up fails to load. Batches of about 1 MiB keep
    `executescript` calls few.
    """
    current: list[str] = []  # lines of the statement in progress
    batch: list[str] = []
    size = 0
    for line in _lines(chunks):
        if not current and _TRANSACTION.match(line):
            continue
        current.append(line)
        if not line.rstrip().endswith(";"):
            continue
        statement = "".join(current) if len(current) > 1 else line
        if not sqlite3.complete_statement(statement):
            current = [statement]
            continue
        current = []
        batch.append(statement)
        size += len(statement)
        if size >= _BATCH_BYTES:
            yield "".join(batch)
            batch, size = [], 0
    rest = "".join(batch + current)
    if rest.strip():
        yield rest


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of text arriving in chunks, each with its line end; the last one may lack it."""
    tail = ""
    for chunk in chunks:
        text = tail + chunk
        cut = text.rfind("\n") + 1
        tail = text[cut:]
        yield from text[:cut].splitlines(keepends=True)
    if tail:
        yield tail


def load_dump(conn: sqlite3.Connection, chunks: Iterable[str]) -> None:
    """Run a SQL dump into `conn` (an in-memory database), batch by batch."""
    try:
        for batch in dump_statements(chunks):
            conn.executescript(batch)
    except sqlite3.Error as exc:
        raise SQLError(f"the dump does not load into SQLite: {exc}") from None


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({quote_identifier(table)})")]


def mask(
    conn: sqlite3.Connection, rules: Rules
) -> tuple[tuple[MaskedColumn, ...], tuple[str, ...], int]:
    """Apply `rules` to the database of `conn` in place: (masked columns, unmatched keys, tables)."""
    masker = Masker(rules.salt)
    conn.create_function(
        "worktime_mask",
        3,
        lambda kind, value, arg: masker.mask(Rule(kind, arg), value),
        deterministic=True,
    )
    tables = [
        str(name)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not str(name).lower().startswith(INTERNAL_TABLE_PREFIXES)
    ]
    masked: list[MaskedColumn] = []
    matched: set[tuple[str, str]] = set()
    conn.execute("BEGIN")
    try:
        for table in tables:
            wanted = rules.for_table(table)
            columns = {c.lower(): c for c in _columns(conn, table)}
            todo = [(columns[c], r) for c, r in wanted.items() if c in columns and r.kind != KEEP]
            matched.update((table.lower(), c) for c in wanted if c in columns)
            if not todo:
                continue
            with _triggers_off(conn, table):
                for column, rule in todo:
                    quoted = quote_identifier(column)
                    try:
                        cursor = conn.execute(
                            f"UPDATE {quote_identifier(table)} SET {quoted} = "
                            f"worktime_mask(?, {quoted}, ?) WHERE {quoted} IS NOT "
                            f"worktime_mask(?, {quoted}, ?)",
                            (rule.kind, rule.value, rule.kind, rule.value),
                        )
                    except sqlite3.Error as exc:
                        raise SQLError(
                            f"masking {table}.{column} with {rule.text()} failed: {exc}",
                            hint=f"choose another rule for {table}.{column} in {rules.source}",
                        ) from None
                    masked.append(MaskedColumn(table, column, rule.text(), cursor.rowcount))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    unmatched = tuple(f"{t}.{c}" for (t, c) in rules.columns if (t, c) not in matched)
    return tuple(masked), unmatched, len(tables)


@contextmanager
def _triggers_off(conn: sqlite3.Connection, table: str) -> Iterator[None]:
    """Drop `table`'s triggers for the masking UPDATEs and re-create them after, unchanged."""
    triggers = [
        (str(name), str(sql))
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
            "ORDER BY rowid",
            (table,),
        )
    ]
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {quote_identifier(name)}")
    yield
    for _, sql in triggers:
        conn.execute(sql)


def write(conn: sqlite3.Connection, target: Path) -> None:
    """Write the (masked) in-memory database to a new file `target`.

    `VACUUM INTO` rebuilds every table and index from its rows into the new file: no free
    page and no leftover bytes of a page are copied, so nothing an UPDATE replaced can
    survive into the file (a page-by-page backup would carry the slack along).
    """
    with fsutil.translated(target, "write"):
        target.unlink(missing_ok=True)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.Error as exc:
        raise storage_error(exc, target) or SQLError(f"cannot write {target}: {exc}") from None


def sanitize_dump(
    chunks: Iterable[str],
    target: Path,
    rules: Rules = DEFAULT_RULES,
    *,
    on_loaded: Callable[[], None] | None = None,
) -> SanitizeResult:
    """Load a SQL dump (text chunks, e.g. D1's export as it downloads) into memory, mask it,
    write it to `target` (a new SQLite file; the caller copies it into the live one)."""
    conn = memory_database()
    try:
        load_dump(conn, chunks)
        if on_loaded is not None:
            on_loaded()
        return _finish(conn, target, rules)
    finally:
        conn.close()


def open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file at `path` (`mode=ro`)."""
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SQLError(f"cannot open {path}: {exc}") from None


def sanitize_database(source: Path, target: Path, rules: Rules = DEFAULT_RULES) -> SanitizeResult:
    """Copy the SQLite file `source` (opened read-only, never changed) into memory, mask it,
    write it to `target`."""
    src = open_read_only(source)
    conn = memory_database()
    try:
        src.backup(conn)
        return _finish(conn, target, rules)
    except sqlite3.Error as exc:
        raise SQLError(f"cannot read {source}: {exc}") from None
    finally:
        src.close()
        conn.close()


def _finish(conn: sqlite3.Connection, target: Path, rules: Rules) -> SanitizeResult:
    masked, unmatched, tables = mask(conn, rules)
    write(conn, target)
    return SanitizeResult(target, rules.source, tables, masked, unmatched)
