"""A database's live schema as a normalised model, and a pure diff of two of them.

`read_schema(query)` builds the model from `sqlite_master` and PRAGMAs D1 allows
(`table_info`, `foreign_key_list`, `index_list`, `index_info`) through a query function
`Callable[[str], list[dict]]`: rows of one statement as dicts. `connection_query(conn)`
makes one from a local SQLite connection; a remote D1 database's `query` (its `/query`
rows) is one already, so local and remote share every line of this module.

What counts: tables; columns with their declared type, default, NOT NULL and primary-key
position; indexes (unique, columns or expressions, the partial WHERE) including the ones
UNIQUE/PRIMARY KEY constraints make (keyed by what they cover, not SQLite's generated
name); triggers and views (their SQL); foreign keys with ON DELETE / ON UPDATE / MATCH.
What does not: whitespace, comments, the case of keywords and names, identifier quoting
(`"users"`, `[users]`, `` `users` `` and `users` are one name), column order. String
literals keep their case (`DEFAULT 'Active'` is not `DEFAULT 'active'`).

Ignored: SQLite's `sqlite_*` and D1's `_cf_*` internals, and the migrations ledger
(`d1_migrations` and worktime's `d1_migrations_worktime`), which is compared separately:
`Schema.applied` holds the ledger's migration names, `diff_names` compares it (and the
migration files present on each side).

`diff(a, b)` is pure and returns `Difference` records (kind, object, detail, a, b), sorted,
JSON-serialisable; `compare` wraps everything into a `SchemaDiff` with `drift` and `to_json`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from worktime_cli.migrations.derive import TOKEN
from worktime_cli.migrations.files import FACTS_SUFFIX
from worktime_cli.sqlite.script import INTERNAL_TABLE_PREFIXES, quote_identifier

QueryFn = Callable[[str], list[dict[str, Any]]]

# Object kinds of a Difference.
TABLE = "table"
COLUMN = "column"
INDEX = "index"
TRIGGER = "trigger"
VIEW = "view"
FOREIGN_KEY = "foreign-key"
LEDGER = "ledger"
FILE = "migration-file"

ONLY_A = "only in a"
ONLY_B = "only in b"


def connection_query(conn: sqlite3.Connection) -> QueryFn:
    """A query function over a local connection: each row as a dict of column → value."""

    def query(sql: str) -> list[dict[str, Any]]:
        cursor = conn.execute(sql)
        names = [c[0] for c in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    return query


# --- normalisation ---------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _unquote(token: str) -> str:
    if token[0] == '"':
        return token[1:-1].replace('""', '"')
    if token[0] == "`":
        return token[1:-1].replace("``", "`")
    if token[0] == "[":
        return token[1:-1]
    return token


def normalise_name(name: str) -> str:
    """A name as compared: unquoted, lower-case (SQLite matches names case-insensitively)."""
    return _unquote(name.strip()).lower() if name.strip() else ""


def normalise_sql(sql: str | None) -> str | None:
    """SQL text as compared: comments and blank runs gone, names unquoted and lower-cased,
    keywords lower-cased, string literals kept; tokens joined by one space."""
    if sql is None:
        return None
    out: list[str] = []
    for match in TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "ident":
            name = _unquote(text).lower()
            out.append(name if _PLAIN.fullmatch(name) else quote_identifier(name))
        elif kind == "string":
            out.append(text)
        else:
            out.append(text.lower())
    text = " ".join(out)
    # A trailing `;` is formatting too.
    return text[:-2] if text.endswith(" ;") else text


def normalise_type(declared: str | None) -> str:
    """A declared column type as compared: upper-case, blanks collapsed, none → ''."""
    if not declared:
        return ""
    return re.sub(r"\s*([(),])\s*", r"\1", " ".join(declared.split())).upper()


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None  # normalised SQL of the default expression
    pk: int  # position in the primary key, 0 when not part of it

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "not_null": self.not_null,
            "default": self.default,
            "pk": self.pk,
        }


@dataclass(frozen=True, order=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    to: tuple[str, ...]  # empty: the parent's primary key
    on_delete: str
    on_update: str
    match: str

    def text(self) -> str:
        to = f"({', '.join(self.to)})" if self.to else ""
        return (
            f"({', '.join(self.columns)}) REFERENCES {self.table}{to} "
            f"ON DELETE {self.on_delete} ON UPDATE {self.on_update}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "table": self.table,
            "to": list(self.to),
            "on_delete": self.on_delete,
            "on_update": self.on_update,
            "match": self.match,
        }


@dataclass(frozen=True, order=True)
class Index:
    key: str  # the name; for a constraint's autoindex, `table:unique(cols)` / `table:pk(cols)`
    table: str
    unique: bool
    columns: tuple[str, ...]  # an expression column is its normalised SQL … or `<expr>`
    where: str | None  # normalised WHERE of a partial index

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "unique": self.unique,
            "columns": list(self.columns),
            "where": self.where,
        }


@dataclass(frozen=True)
class Table:
    name: str  # lower-case
    columns: tuple[Column, ...]  # sorted by name: order does not count
    foreign_keys: tuple[ForeignKey, ...]
    without_rowid: bool
    strict: bool


@dataclass(frozen=True)
class Schema:
    """One database's user schema, normalised; `applied`: the ledger's names, in order."""

    tables: dict[str, Table]
    indexes: dict[str, Index]
    triggers: dict[str, tuple[str, str]]  # name → (table, normalised SQL)
    views: dict[str, str]  # name → normalised SQL
    applied: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": {
                name: {
                    "columns": [c.to_json() for c in t.columns],
                    "foreign_keys": [f.to_json() for f in t.foreign_keys],
                    "without_rowid": t.without_rowid,
                    "strict": t.strict,
                }
                for name, t in sorted(self.tables.items())
            },
            "indexes": {k: i.to_json() for k, i in sorted(self.indexes.items())},
            "triggers": {k: {"table": t, "sql": s} for k, (t, s) in sorted(self.triggers.items())},
            "views": dict(sorted(self.views.items())),
            "applied": list(self.applied),
        }


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_PARTIAL = re.compile(r"\swhere\s(.*)$", re.S)
_OPTIONS = re.compile(
    r"\)\s*((?:without\s+rowid|strict)(?:\s*,\s*(?:without\s+rowid|strict))*)\s*$"
)


def read_schema(query: QueryFn, migrations_table: str = "d1_migrations") -> Schema:
    """The normalised schema of the database `query` reads (see the module docstring)."""
    ledger = {migrations_table.lower(), (migrations_table + FACTS_SUFFIX).lower()}
    master = query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")

    def user(row: dict[str, Any]) -> bool:
        names = (str(row["name"]).lower(), str(row["tbl_name"]).lower())
        return not any(n.startswith(INTERNAL_TABLE_PREFIXES) or n in ledger for n in names)

    tables: dict[str, Table] = {}
    indexes: dict[str, Index] = {}
    triggers: dict[str, tuple[str, str]] = {}
    views: dict[str, str] = {}
    index_sql = {str(r["name"]).lower(): r["sql"] for r in master if r["type"] == "index"}
    for row in master:
        if not user(row):
            continue  # constraint autoindexes come from each table's `index_list`
        kind, name = str(row["type"]), str(row["name"])
        if kind == "table":
            tables[name.lower()] = _table(query, name, row["sql"])
            for index in _indexes(query, name, index_sql):
                indexes[index.key] = index
        elif kind == "trigger":
            triggers[name.lower()] = (str(row["tbl_name"]).lower(), normalise_sql(row["sql"]) or "")
        elif kind == "view":
            views[name.lower()] = normalise_sql(row["sql"]) or ""
    applied: tuple[str, ...] = ()
    if any(
        r["type"] == "table" and str(r["name"]).lower() == migrations_table.lower() for r in master
    ):
        rows = query(f"SELECT name FROM {quote_identifier(migrations_table)} ORDER BY id")
        applied = tuple(str(r["name"]) for r in rows)
    return Schema(tables, indexes, triggers, views, applied)


def _table(query: QueryFn, name: str, sql: Any) -> Table:
    quoted = quote_identifier(name)
    columns = tuple(
        sorted(
            Column(
                str(r["name"]).lower(),
                normalise_type(r["type"]),
                bool(r["notnull"]),
                normalise_sql(None if r["dflt_value"] is None else str(r["dflt_value"])),
                int(r["pk"]),
            )
            for r in query(f"PRAGMA table_info({quoted})")
        )
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in query(f"PRAGMA foreign_key_list({quoted})"):
        grouped.setdefault(int(r["id"]), []).append(r)
    foreign_keys = tuple(
        sorted(
            ForeignKey(
                tuple(str(p["from"]).lower() for p in parts),
                str(parts[0]["table"]).lower(),
                tuple(str(p["to"]).lower() for p in parts if p["to"] is not None),
                str(parts[0]["on_delete"]).upper(),
                str(parts[0]["on_update"]).upper(),
                str(parts[0]["match"]).upper(),
            )
            for parts in (sorted(g, key=lambda p: int(p["seq"])) for g in grouped.values())
        )
    )
    options = _OPTIONS.search(normalise_sql(str(sql or "")) or "")
    words = options.group(1) if options else ""
    return Table(name.lower(), columns, foreign_keys, "rowid" in words, "strict" in words)


def _indexes(query: QueryFn, table: str, index_sql: dict[str, Any]) -> list[Index]:
    found: list[Index] = []
    for r in query(f"PRAGMA index_list({quote_identifier(table)})"):
        name = str(r["name"])
        info = sorted(
            query(f"PRAGMA index_info({quote_identifier(name)})"), key=lambda i: int(i["seqno"])
        )
        columns = tuple("<expr>" if i["name"] is None else str(i["name"]).lower() for i in info)
        origin = str(r.get("origin") or "c")
        sql = normalise_sql(index_sql.get(name.lower()))
        where = None
        if int(r.get("partial") or 0) and sql is not None:
            match = _PARTIAL.search(sql)
            where = match.group(1) if match else sql
        if "<expr>" in columns and sql is not None:
            # An expression index: its key list as written (normalised), table name first.
            listed = sql.partition(" on ")[2]
            columns = (_PARTIAL.sub("", listed) if where is not None else listed,)
        if origin == "c":
            key = name.lower()
        else:
            key = f"{table.lower()}:{'pk' if origin == 'pk' else 'unique'}({', '.join(columns)})"
        found.append(Index(key, table.lower(), bool(r["unique"]), columns, where))
    return found


# --- the diff --------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Difference:
    """One difference: `kind` of object, `object` (e.g. `users.email`), what differs, each side.

    `a`/`b` are JSON values (a string, a dict, or None when the object is missing there).
    """

    kind: str
    object: str
    detail: str
    a: Any = None
    b: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object": self.object,
            "detail": self.detail,
            "a": self.a,
            "b": self.b,
        }


def _presence(kind: str, name: str, a: Any, b: Any) -> Difference:
    return Difference(kind, name, ONLY_A if b is None else ONLY_B, a, b)


def diff(a: Schema, b: Schema) -> tuple[Difference, ...]:
    """Every difference between two schemas (the ledger is not part of it: `diff_names`)."""
    found: list[Difference] = []
    for name in sorted(a.tables.keys() | b.tables.keys()):
        ta, tb = a.tables.get(name), b.tables.get(name)
        if ta is None or tb is None:
            found.append(_presence(TABLE, name, _cols(ta), _cols(tb)))
            continue
        found += _table_diff(ta, tb)
    for key in sorted(a.indexes.keys() | b.indexes.keys()):
        ia, ib = a.indexes.get(key), b.indexes.get(key)
        if ia is None or ib is None or ia != ib:
            ja, jb = (None if i is None else i.to_json() for i in (ia, ib))
            found.append(
                _presence(INDEX, key, ja, jb)
                if ia is None or ib is None
                else Difference(INDEX, key, "differs", ja, jb)
            )
    for kind, sa, sb in (
        (
            TRIGGER,
            {k: v[1] for k, v in a.triggers.items()},
            {k: v[1] for k, v in b.triggers.items()},
        ),
        (VIEW, a.views, b.views),
    ):
        for key in sorted(sa.keys() | sb.keys()):
            va, vb = sa.get(key), sb.get(key)
            if va is None or vb is None:
                found.append(_presence(kind, key, va, vb))
            elif va != vb:
                found.append(Difference(kind, key, "sql differs", va, vb))
    return tuple(sorted(found))


def _cols(table: Table | None) -> list[str] | None:
    return None if table is None else [c.name for c in table.columns]


def _table_diff(ta: Table, tb: Table) -> list[Difference]:
    found: list[Difference] = []
    ca = {c.name: c for c in ta.columns}
    cb = {c.name: c for c in tb.columns}
    for name in sorted(ca.keys() | cb.keys()):
        x, y = ca.get(name), cb.get(name)
        where = f"{ta.name}.{name}"
        if x is None or y is None:
            found.append(
                _presence(
                    COLUMN,
                    where,
                    None if x is None else x.to_json(),
                    None if y is None else y.to_json(),
                )
            )
            continue
        for attribute in ("type", "not_null", "default", "pk"):
            va, vb = getattr(x, attribute), getattr(y, attribute)
            if va != vb:
                found.append(
                    Difference(COLUMN, where, f"{attribute.replace('_', ' ')} differs", va, vb)
                )
    fa, fb = set(ta.foreign_keys), set(tb.foreign_keys)
    for fk in sorted(fa - fb):
        found.append(
            Difference(FOREIGN_KEY, f"{ta.name}({', '.join(fk.columns)})", ONLY_A, fk.text(), None)
        )
    for fk in sorted(fb - fa):
        found.append(
            Difference(FOREIGN_KEY, f"{ta.name}({', '.join(fk.columns)})", ONLY_B, None, fk.text())
        )
    for attribute in ("without_rowid", "strict"):
        if getattr(ta, attribute) != getattr(tb, attribute):
            found.append(
                Difference(
                    TABLE,
                    ta.name,
                    f"{attribute.replace('_', ' ')} differs",
                    getattr(ta, attribute),
                    getattr(tb, attribute),
                )
            )
    return found


def diff_names(kind: str, a: Sequence[str], b: Sequence[str]) -> tuple[Difference, ...]:
    """Names present on one side only (the ledger's applied migrations, or migration files);
    for the ledger, also the same names applied in another order."""
    found = [Difference(kind, n, ONLY_A, n, None) for n in a if n not in set(b)]
    found += [Difference(kind, n, ONLY_B, None, n) for n in b if n not in set(a)]
    common_a = [n for n in a if n in set(b)]
    common_b = [n for n in b if n in set(a)]
    if kind == LEDGER and common_a != common_b:
        found.append(Difference(kind, "order", "applied in another order", common_a, common_b))
    return tuple(found)


@dataclass(frozen=True)
class SchemaDiff:
    """`d1 diff A B`: every difference; `drift` when there is any (exit 1)."""

    a: str  # how each side is named, e.g. `local`, `remote (production)`
    b: str
    differences: tuple[Difference, ...]

    @property
    def drift(self) -> bool:
        return bool(self.differences)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "drift": self.drift,
            "differences": [d.to_json() for d in self.differences],
        }


def compare(
    a: Schema,
    b: Schema,
    *,
    a_label: str = "a",
    b_label: str = "b",
    a_files: Iterable[str] | None = None,
    b_files: Iterable[str] | None = None,
) -> SchemaDiff:
    """The ledger, the migration files (when given for both sides) and the live schema."""
    found = list(diff_names(LEDGER, a.applied, b.applied))
    if a_files is not None and b_files is not None:
        found += diff_names(FILE, sorted(a_files), sorted(b_files))
    found += diff(a, b)
    return SchemaDiff(a_label, b_label, tuple(found))
