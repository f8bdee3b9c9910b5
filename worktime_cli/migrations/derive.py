"""Derived down SQL: the exact inverse of a migration that only creates, adds or renames.

A migration with no down file is still reversible when every statement can be inverted from
its SQL alone: `CREATE TABLE/INDEX/VIEW/TRIGGER` → `DROP …`, `ALTER TABLE … ADD COLUMN` →
`DROP COLUMN`, `RENAME TO` / `RENAME COLUMN` → the reverse rename, all in reverse order.
Statements with no lasting effect inside a migration's transaction (`PRAGMA foreign_keys`,
`PRAGMA defer_foreign_keys`, read-only pragmas, `SELECT`) need no inverse. Anything else
(DROP, DELETE, UPDATE, INSERT, a rebuild…) makes the migration irreversible without a down
file, and `Derived.blocker` names that statement as `file:line`.

Names are re-emitted exactly as written (quotes included), so the inverse names the same
object SQLite created. The tokenizer below only has to find keywords and names; SQLite
itself (in `verify`) proves the inverse restores the schema.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from worktime_cli.sqlite.script import Statement

DERIVED_MARK = "-- Derived by worktime"

TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
  | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[A-Za-z_\x80-\U0010ffff][\w$\x80-\U0010ffff]*)
  | (?P<string>'(?:[^']|'')*')
  | (?P<other>.)
    """,
    re.S | re.X,
)

# Read-only or transaction-scoped pragmas: no lasting effect inside a migration's
# transaction (foreign_keys is a no-op inside a transaction; defer_foreign_keys ends with it).
_HARMLESS_PRAGMAS = frozenset(
    {
        "foreign_keys",
        "defer_foreign_keys",
        "foreign_key_check",
        "foreign_key_list",
        "integrity_check",
        "quick_check",
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
    }
)
_KINDS = frozenset({"TABLE", "INDEX", "VIEW", "TRIGGER"})


def tokens(sql: str, limit: int = 64) -> list[str]:
    """The first `limit` tokens of `sql`, comments and blanks skipped."""
    found: list[str] = []
    for match in TOKEN.finditer(sql):
        if match.lastgroup == "space":
            continue
        found.append(match.group())
        if len(found) >= limit:
            break
    return found


def _is(token: str | None, *words: str) -> bool:
    return token is not None and token.upper() in words


def unquote(name: str) -> str:
    """An identifier token as SQLite reads it (quotes removed, doubled quotes undone)."""
    if name[:1] == '"':
        return name[1:-1].replace('""', '"')
    if name[:1] == "`":
        return name[1:-1].replace("``", "`")
    if name[:1] == "[":
        return name[1:-1]
    return name


@dataclass(frozen=True)
class Inverse:
    """One statement's inverse: `sql` (None: needs none) or, when it has none, `reason`."""

    sql: str | None
    reason: str | None = None


class _Names:
    """A token cursor for the few shapes parsed here."""

    def __init__(self, toks: Sequence[str]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def take(self, *words: str) -> bool:
        if _is(self.peek(), *words):
            self.i += 1
            return True
        return False

    def qualified(self) -> tuple[str | None, str] | None:
        """`[schema.]name` as written; None when the next token is no name."""
        first = self.peek()
        if first is None or not _is_ident(first):
            return None
        self.i += 1
        if self.peek() == "." and _is_ident(self.peek(1) or ""):
            self.i += 2
            return first, self.toks[self.i - 1]
        return None, first


def _is_ident(token: str) -> bool:
    return bool(token) and (token[0] in '"`[' or token[0].isalpha() or token[0] == "_")


def _qualified(schema: str | None, name: str) -> str:
    return name if schema is None else f"{schema}.{name}"


def invert(sql: str) -> Inverse:
    """The inverse of one statement (see the module docstring)."""
    toks = tokens(sql)
    cur = _Names(toks)
    head = (cur.peek() or "").upper()
    if head == "CREATE":
        cur.take("CREATE")
        temp = cur.take("TEMP", "TEMPORARY")
        cur.take("UNIQUE")
        virtual = cur.take("VIRTUAL")
        kind = (cur.peek() or "").upper()
        if kind not in _KINDS:
            return Inverse(None, "CREATE of an unknown kind")
        cur.i += 1
        if_not_exists = cur.take("IF")
        if if_not_exists:
            cur.take("NOT")
            cur.take("EXISTS")
        name = cur.qualified()
        if name is None:
            return Inverse(None, "no name found")
        if temp or (name[0] is not None and unquote(name[0]).lower() == "temp"):
            return Inverse(None)  # a temp object ends with the connection: nothing lasts
        drop_kind = "TABLE" if virtual else kind
        guard = " IF EXISTS" if if_not_exists else ""
        return Inverse(f"DROP {drop_kind}{guard} {_qualified(*name)};")
    if head == "ALTER":
        cur.take("ALTER")
        if not cur.take("TABLE"):
            return Inverse(None, "not ALTER TABLE")
        name = cur.qualified()
        if name is None:
            return Inverse(None, "no table name found")
        schema, table = name
        if cur.take("ADD"):
            cur.take("COLUMN")
            column = cur.peek()
            if column is None or not _is_ident(column):
                return Inverse(None, "no column name found")
            return Inverse(f"ALTER TABLE {_qualified(schema, table)} DROP COLUMN {column};")
        if cur.take("RENAME"):
            if cur.take("TO"):
                new = cur.peek()
                if new is None or not _is_ident(new):
                    return Inverse(None, "no new name found")
                return Inverse(f"ALTER TABLE {_qualified(schema, new)} RENAME TO {table};")
            cur.take("COLUMN")
            old = cur.peek()
            if old is None or not _is_ident(old) or not _is(cur.peek(1), "TO"):
                return Inverse(None, "no column rename found")
            new = cur.peek(2)
            if new is None or not _is_ident(new):
                return Inverse(None, "no new column name found")
            return Inverse(f"ALTER TABLE {_qualified(schema, table)} RENAME COLUMN {new} TO {old};")
        return Inverse(None, "ALTER TABLE … DROP COLUMN loses the column's data")
    if head == "PRAGMA":
        cur.take("PRAGMA")
        name = cur.qualified()
        if name is not None and unquote(name[1]).lower() in _HARMLESS_PRAGMAS:
            return Inverse(None)
        return Inverse(None, "a PRAGMA with a lasting effect")
    if head in ("SELECT", "EXPLAIN", "VALUES"):
        return Inverse(None)
    words = {
        "DROP": "DROP loses what it drops",
        "DELETE": "DELETE loses the rows it deletes",
        "UPDATE": "UPDATE overwrites the old values",
        "INSERT": "INSERT's rows cannot be told apart from older ones",
        "REPLACE": "REPLACE overwrites rows",
        "WITH": "a WITH statement may change rows",
    }
    return Inverse(None, words.get(head, f"{head or 'this statement'} has no known inverse"))


@dataclass(frozen=True)
class Derived:
    """The derived down SQL of one migration, or why there is none.

    sql: the inverse script (a header line, then one statement per line, reverse order);
    None when some statement has no inverse: `blocker` is then `file:line: <statement>: why`.
    """

    sql: str | None
    blocker: str | None = None


def _first_line(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 60 else text[:57] + "…"


@lru_cache(maxsize=4096)
def derive(label: str, name: str, statements: tuple[Statement, ...]) -> Derived:
    """The inverse of `statements` (one migration), reverse order; `label` is its file."""
    inverses: list[str] = []
    for statement in statements:
        inverse = invert(statement.sql)
        if inverse.reason is not None:
            return Derived(
                None, f"{label}:{statement.line}: {_first_line(statement.sql)} ({inverse.reason})"
            )
        if inverse.sql is not None:
            inverses.append(inverse.sql)
    if not inverses:
        return Derived(None, f"{label}: no statement to undo")
    body = "\n".join(reversed(inverses))
    return Derived(
        f"{DERIVED_MARK} from {name}: the inverse of each statement, in reverse order.\n{body}\n"
    )


def is_derived(sql: str) -> bool:
    """Captured down SQL that `derive` wrote (not a down file's copy)."""
    return sql.startswith(DERIVED_MARK)
