"""Lint's schema rules: what a statement does to the schema the migrations before it built.

They look at a plain in-memory SQLite replay (`ReplayedSchema`), statement by statement; it
has no D1 limits (the limits are what is being checked) and foreign keys on, as on D1.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from worktime_cli.migrations.derive import tokens, unquote
from worktime_cli.migrations.lint_codes import ERROR, ISSUES, Finding
from worktime_cli.migrations.lint_statements import at, upper
from worktime_cli.sqlite.script import Statement

MAX_COLUMNS = 100


class ReplayedSchema:
    """The plain SQLite replay the schema rules look at."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.broken = False

    def close(self) -> None:
        self.conn.close()

    def tables(self) -> list[str]:
        return [
            str(r[0])
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        ]

    def referencing(self, parent: str) -> list[tuple[str, str]]:
        """(child table, ON DELETE action) for each table whose rows a DELETE of `parent` changes."""
        found = []
        for table in self.tables():
            if table.lower() == parent.lower():
                continue
            for row in self.conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,)):
                # (id, seq, table, from, to, on_update, on_delete, match)
                if str(row[2]).lower() == parent.lower() and str(row[6]).upper() in (
                    "CASCADE",
                    "SET NULL",
                    "SET DEFAULT",
                ):
                    found.append((table, str(row[6]).upper()))
        return sorted(set(found))

    def columns(self, table: str) -> int:
        return len(self.conn.execute("SELECT 1 FROM pragma_table_xinfo(?)", (table,)).fetchall())

    def begin(self) -> None:
        try:
            self.conn.execute("BEGIN")
        except sqlite3.Error:
            self.broken = True

    def end(self) -> str | None:
        """Commit one migration's replay; SQLite's message when the commit fails.

        A rebuild's stale deferred-violation counter is cleared when the rows are clean (as
        the local target does). Rows that do break a foreign key fail the migration on D1;
        the replay keeps its schema all the same (the rules look at the schema, not the
        rows), so the files after it are still checked.
        """
        if not self.conn.in_transaction:
            return None
        if self.broken:
            self.conn.execute("ROLLBACK")
            return None
        if not self.conn.execute("PRAGMA foreign_key_check").fetchall():
            self.conn.execute("PRAGMA defer_foreign_keys = OFF")
        try:
            self.conn.execute("COMMIT")
            return None
        except sqlite3.Error as exc:
            failure = str(exc)
        try:
            # Switching deferral off drops the counter `defer_foreign_keys` raised.
            self.conn.execute("PRAGMA defer_foreign_keys = OFF")
            self.conn.execute("COMMIT")
        except sqlite3.Error:
            self.conn.execute("ROLLBACK")  # DEFERRABLE INITIALLY DEFERRED: no way past it
            self.broken = True
        return failure

    def run(self, sql: str) -> str | None:
        """Run one statement; SQLite's message when it fails (the replay goes on without it)."""
        if self.broken:
            return None
        try:
            self.conn.execute(sql)
        except sqlite3.Error as exc:
            if not self.conn.in_transaction:
                # SQLite rolled the whole migration back (ON CONFLICT ROLLBACK, a trigger's
                # RAISE(ROLLBACK)): its earlier statements are gone, so the schema rules
                # would look at the wrong schema from here on.
                self.broken = True
            return str(exc)
        return None


def _restores(statement: Statement) -> tuple[str, str] | None:
    """(table, keep table) of `INSERT [OR …] INTO t SELECT * FROM _keep_t`, else None."""
    toks = tokens(statement.sql, limit=12)
    i = 3 if upper(toks, 1) == "OR" else 1
    if upper(toks, 0) != "INSERT" or upper(toks, i) != "INTO":
        return None
    rest = [t.upper() for t in toks[i + 2 : i + 5]]
    if rest != ["SELECT", "*", "FROM"] or len(toks) < i + 6 or toks[i + 6 :] not in ([], [";"]):
        return None
    return unquote(toks[i + 1]).lower(), unquote(toks[i + 5]).lower()


def _preserved(schema: ReplayedSchema, child: str, later: Sequence[Statement]) -> bool:
    """The safe pattern `migrations create --alter` writes: the child's rows were copied to
    `_keep_<child>` before this DROP and are put back by a later statement of the file."""
    keep = f"_keep_{child}".lower()
    if keep not in (t.lower() for t in schema.tables()):
        return False
    return any(_restores(s) == (child.lower(), keep) for s in later)


def schema_rules(
    schema: ReplayedSchema, statement: Statement, file: str, later: Sequence[Statement] = ()
) -> Iterable[Finding]:
    toks = tokens(statement.sql, limit=12)
    head = upper(toks, 0)
    if schema.broken:
        return
    if head == "DROP" and upper(toks, 1) == "TABLE":
        i = 2
        if upper(toks, 2) == "IF":
            i = 4
        name = unquote(toks[i + 2] if at(toks, i + 1) == "." else at(toks, i))
        children = [c for c in schema.referencing(name) if not _preserved(schema, c[0], later)]
        if children:
            listed = ", ".join(f"{c} (ON DELETE {a})" for c, a in children)
            keep = children[0][0]
            yield Finding(
                "cascade-drop",
                ERROR,
                file,
                statement.line,
                f"DROP TABLE {name} changes the rows of {listed}: D1 cannot turn foreign keys "
                "off, so even inside a rebuild their rows are deleted",
                f"copy the child rows out first and put them back after the rebuild, under "
                f"PRAGMA defer_foreign_keys = ON: CREATE TABLE _keep_{keep} AS SELECT * FROM "
                f"{keep}; … rebuild {name} …; INSERT INTO {keep} SELECT * FROM _keep_{keep}; "
                f"DROP TABLE _keep_{keep}; (`worktime d1 migrations create --alter` writes this)",
                f"{ISSUES}5438",
            )


def column_rule(schema: ReplayedSchema, statement: Statement, file: str) -> Iterable[Finding]:
    toks = tokens(statement.sql, limit=12)
    head = upper(toks, 0)
    if schema.broken or head not in ("CREATE", "ALTER"):
        return
    index = next((i for i, t in enumerate(toks[:5]) if t.upper() == "TABLE"), None)
    if index is None:
        return
    i = index + 1
    if upper(toks, i) == "IF":
        i += 3
    name = unquote(toks[i + 2] if at(toks, i + 1) == "." else at(toks, i))
    count = schema.columns(name)
    if count > MAX_COLUMNS:
        yield Finding(
            "too-many-columns",
            ERROR,
            file,
            statement.line,
            f"table {name} has {count} columns; D1 allows {MAX_COLUMNS}",
            "split the table (e.g. a side table joined by id)",
        )
