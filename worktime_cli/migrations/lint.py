"""`migrations lint`: D1's hazards found before apply, each with a code, a severity and a fix.

Static rules look at one statement's text; schema rules (the cascade one, column counts)
replay the migrations into a plain in-memory SQLite database, statement by statement, so
they see the schema exactly as it is when the statement runs. That scratch database has no
D1 limits (the limits are what is being checked) and foreign keys on, as on D1.

A statement that fails in the replay is a finding of its own, and the replay goes on
without it: the statements after it are still checked (a failing copy two lines above a
cascading DROP must not hide the DROP). Lint is never silent about what it could not check.

Codes (severity):
- `statement-fails` (error): the statement fails on the schema the migrations before it
  build (SQLite's message), or the migration fails when it commits (rows breaking a
  foreign key): it would fail on D1 too.
- `cascade-drop` (error): DROP TABLE of a table other tables reference with ON DELETE
  CASCADE / SET NULL / SET DEFAULT: on D1 their rows change even inside a rebuild, because
  foreign keys cannot be turned off there (workers-sdk #5438). A child whose rows were
  copied to `_keep_<child>` before the drop and are put back later in the same file
  (`INSERT [OR REPLACE] INTO child SELECT * FROM _keep_child`, as `create --alter` writes)
  is safe.
- `fk-off` (error): `PRAGMA foreign_keys = OFF` is a no-op on D1 (and inside a migration).
- `transaction` (error): BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE/ATTACH, refused by D1.
- `too-large` (error): a statement over D1's 100,000 bytes.
- `too-many-columns` (error): a table over D1's 100 columns.
- `trigger-crlf` (error): CRLF line endings inside a trigger body: D1's /query splitter cuts
  it ("incomplete input", workers-sdk #14991).
- `trigger-lowercase-begin` (error): a trigger body opened by lowercase `begin`: D1's
  splitter matches BEGIN case-sensitively (workers-sdk #15314).
- `trigger-nested-end` (error): CASE … END inside a trigger body: D1's splitter takes the
  inner END for the trigger's (workers-sdk #4727, #4998).
- `comment-quote` (warning): a quote mark inside a comment of a file with several statements:
  D1 fails with "A prepared SQL statement must contain only one statement" (workers-sdk #4713).
- `not-null-no-default` (warning): ADD COLUMN … NOT NULL without a DEFAULT (SQLite refuses it).
- `destructive` (warning): DROP TABLE, DROP COLUMN, DELETE or UPDATE without WHERE.
- `pattern-matches-down` (error): the binding's `migrations_pattern` matches down files in
  `<migrations_dir>/down/`: wrangler would run them as migrations (undoing others).
- `symlink-skipped` (warning): a symlinked file (or folder) the pattern would match:
  wrangler >= 4.98 skips symlinks, so it is never applied (worktime skips it too; 4.86-4.97
  ran it).
- `not-replayed` (warning): the replay cannot go on (an applied migration fails on an empty
  database, or SQLite rolled a whole migration back): the schema rules are not run on the
  statements after it; the static rules still are.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from worktime_cli.errors import SQLError, WorktimeError
from worktime_cli.migrations import files
from worktime_cli.migrations.derive import TOKEN, tokens, unquote
from worktime_cli.migrations.files import MigrationFile, Source
from worktime_cli.sqlite.script import STATEMENT_LIMIT_HINT, Statement

ERROR = "error"
WARNING = "warning"

MAX_STATEMENT_BYTES = 100_000
MAX_COLUMNS = 100

_ISSUES = "https://github.com/cloudflare/workers-sdk/issues/"

CODES: dict[str, str] = {
    "statement-fails": ERROR,
    "cascade-drop": ERROR,
    "fk-off": ERROR,
    "transaction": ERROR,
    "too-large": ERROR,
    "too-many-columns": ERROR,
    "trigger-crlf": ERROR,
    "trigger-lowercase-begin": ERROR,
    "trigger-nested-end": ERROR,
    "comment-quote": WARNING,
    "not-null-no-default": WARNING,
    "destructive": WARNING,
    "not-replayed": WARNING,
    "pattern-matches-down": ERROR,
    "symlink-skipped": WARNING,
}


@dataclass(frozen=True)
class Finding:
    """One hazard: `code` (see the module docstring), at `file:line`, with a fix."""

    code: str
    severity: str
    file: str
    line: int
    message: str
    fix: str
    reference: str | None = None  # the workers-sdk issue the rule comes from

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def text(self) -> str:
        return f"{self.where}: {self.code}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class LintResult:
    """`migrations lint`: every finding, in file order; `ok` when none is an error."""

    database: str
    checked: int
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "checked": self.checked,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.findings) - len(self.errors),
            "findings": [f.to_json() for f in self.findings],
        }


class LintError(WorktimeError):
    """Error-level lint findings in what `apply` was about to apply."""


# --- static rules ------------------------------------------------------------------------------

_FK_OFF = re.compile(r"^(?:off|0|false|no)$", re.I)
_CASE = re.compile(r"\bCASE\b", re.I)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_REFUSED = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH"}
)


def _upper(toks: Sequence[str], i: int) -> str:
    return toks[i].upper() if i < len(toks) else ""


def _static(statement: Statement, file: str) -> Iterable[Finding]:
    sql = statement.sql
    line = statement.line
    toks = tokens(sql, limit=12)
    head = _upper(toks, 0)

    def finding(code: str, message: str, fix: str, issue: int | None = None) -> Finding:
        ref = None if issue is None else f"{_ISSUES}{issue}"
        return Finding(code, CODES[code], file, line, message, fix, ref)

    size = len(sql.encode("utf-8"))
    if size > MAX_STATEMENT_BYTES:
        yield finding(
            "too-large",
            f"the statement is {size:,} bytes; D1 allows {MAX_STATEMENT_BYTES:,}",
            "split it (e.g. several INSERTs of fewer rows each)",
        )
    if head in _REFUSED:
        yield finding(
            "transaction",
            f"D1 refuses {head} statements",
            "remove it: each migration already runs as one atomic transaction (batch on D1)",
        )
    if head == "PRAGMA":
        name = unquote(toks[3] if _upper(toks, 2) == "." and len(toks) > 3 else _at(toks, 1))
        value = next((t for t in toks[2:] if t not in ("=", "(", ".")), "")
        if name.lower() == "foreign_keys" and _FK_OFF.match(unquote(value).strip("'")):
            yield finding(
                "fk-off",
                "PRAGMA foreign_keys = OFF has no effect on D1 (nor inside a migration's "
                "transaction): ON DELETE CASCADE still fires",
                "use PRAGMA defer_foreign_keys = ON for a rebuild, and keep child rows "
                "(see `worktime d1 migrations create --alter`)",
                5438,
            )
    if head == "DROP" and _upper(toks, 1) == "TABLE":
        yield finding(
            "destructive",
            "DROP TABLE deletes the table and every row in it",
            "make sure the data is no longer needed (or copied first); keep a down file",
        )
    if head == "ALTER" and "DROP" in (t.upper() for t in toks[3:5]):
        yield finding(
            "destructive",
            "ALTER TABLE … DROP COLUMN deletes the column's data",
            "copy the data first if it is still needed",
        )
    if head in ("DELETE", "UPDATE") and not re.search(r"\bWHERE\b", _COMMENT.sub(" ", sql), re.I):
        yield finding(
            "destructive",
            f"{head} without WHERE changes every row of the table",
            "add a WHERE clause, or confirm every row is meant",
        )
    if head == "ALTER" and _upper(toks, 3) == "ADD":
        body = _COMMENT.sub(" ", sql)
        if re.search(r"\bNOT\s+NULL\b", body, re.I) and not re.search(r"\bDEFAULT\b", body, re.I):
            yield finding(
                "not-null-no-default",
                "ADD COLUMN … NOT NULL needs a DEFAULT (SQLite refuses it otherwise)",
                "add DEFAULT <value>, or add the column nullable, backfill it, then rebuild",
            )
    if head == "CREATE" and "TRIGGER" in (t.upper() for t in toks[1:4]):
        yield from _trigger(sql, finding)


def _at(toks: Sequence[str], i: int) -> str:
    return toks[i] if i < len(toks) else ""


def _trigger(sql: str, finding: Any) -> Iterable[Finding]:
    if "\r\n" in sql:
        yield finding(
            "trigger-crlf",
            "CRLF line endings inside a trigger: D1's /query splitter fails on them "
            "(incomplete input)",
            "save the file with LF line endings (git: `* text eol=lf` in .gitattributes)",
            14991,
        )
    body = _COMMENT.sub(" ", sql)
    opener = re.search(r"\bbegin\b", body, re.I)
    if opener is not None and opener.group() != "BEGIN":
        yield finding(
            "trigger-lowercase-begin",
            f"the trigger body opens with {opener.group()!r}: D1's splitter only knows BEGIN",
            "write BEGIN and END in capitals",
            15314,
        )
    if opener is not None and _CASE.search(body, opener.end()):
        yield finding(
            "trigger-nested-end",
            "CASE … END inside a trigger body: D1's splitter takes its END for the trigger's",
            "wrap it in parentheses, (CASE … END), or move the condition to the WHEN clause",
            4727,
        )


def _comment_quotes(source: Source) -> Iterable[Finding]:
    if len(source.statements) < 2:
        return
    for match in TOKEN.finditer(source.sql):
        text = match.group()
        if match.lastgroup == "space" and text[:2] in ("--", "/*") and ("'" in text or '"' in text):
            yield Finding(
                "comment-quote",
                CODES["comment-quote"],
                str(source.file.path),
                source.sql.count("\n", 0, match.start()) + 1,
                "a quote mark in a comment of a file with several statements: D1's "
                "splitter can fail with 'A prepared SQL statement must contain only one "
                "statement'",
                "drop the quote from the comment (it's → it is)",
                f"{_ISSUES}4713",
            )
            return  # one per file is enough to act on


# --- schema rules ------------------------------------------------------------------------------


class _Schema:
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
    i = 3 if _upper(toks, 1) == "OR" else 1
    if _upper(toks, 0) != "INSERT" or _upper(toks, i) != "INTO":
        return None
    rest = [t.upper() for t in toks[i + 2 : i + 5]]
    if rest != ["SELECT", "*", "FROM"] or len(toks) < i + 6 or toks[i + 6 :] not in ([], [";"]):
        return None
    return unquote(toks[i + 1]).lower(), unquote(toks[i + 5]).lower()


def _preserved(schema: _Schema, child: str, later: Sequence[Statement]) -> bool:
    """The safe pattern `migrations create --alter` writes: the child's rows were copied to
    `_keep_<child>` before this DROP and are put back by a later statement of the file."""
    keep = f"_keep_{child}".lower()
    if keep not in (t.lower() for t in schema.tables()):
        return False
    return any(_restores(s) == (child.lower(), keep) for s in later)


def _schema_rules(
    schema: _Schema, statement: Statement, file: str, later: Sequence[Statement] = ()
) -> Iterable[Finding]:
    toks = tokens(statement.sql, limit=12)
    head = _upper(toks, 0)
    if schema.broken:
        return
    if head == "DROP" and _upper(toks, 1) == "TABLE":
        i = 2
        if _upper(toks, 2) == "IF":
            i = 4
        name = unquote(toks[i + 2] if _at(toks, i + 1) == "." else _at(toks, i))
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
                f"{_ISSUES}5438",
            )


def _column_rule(schema: _Schema, statement: Statement, file: str) -> Iterable[Finding]:
    toks = tokens(statement.sql, limit=12)
    head = _upper(toks, 0)
    if schema.broken or head not in ("CREATE", "ALTER"):
        return
    index = next((i for i, t in enumerate(toks[:5]) if t.upper() == "TABLE"), None)
    if index is None:
        return
    i = index + 1
    if _upper(toks, i) == "IF":
        i += 3
    name = unquote(toks[i + 2] if _at(toks, i + 1) == "." else _at(toks, i))
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


def lint(
    sources: Sequence[Source],
    *,
    check: Collection[str] | None = None,
) -> list[Finding]:
    """Findings for `sources` replayed in order; only those in `check` (default: all) are linted.

    The others are the ground the checked ones stand on (apply's applied history): one of
    them failing means the replay no longer holds the database's schema, so the schema
    rules stop there, with a `not-replayed` warning saying so. With `check` (apply), a
    checked statement that fails is no finding: the run itself stops at it with the same
    file:line, and takes back that migration whole; the replay still goes on past it.
    """
    findings: list[Finding] = []
    schema = _Schema()
    try:
        for source in sources:
            checked = check is None or source.name in check
            role = ("checked" if check is None else "run") if checked else "ground"
            file = str(source.file.path)
            if checked:
                findings.extend(_comment_quotes(source))
            schema.begin()
            for at, statement in enumerate(source.statements):
                if checked:
                    findings.extend(_static(statement, file))
                    later = source.statements[at + 1 :]
                    findings.extend(_schema_rules(schema, statement, file, later))
                if _upper(tokens(statement.sql, limit=1), 0) in _REFUSED:
                    continue  # D1 refuses it (`transaction`); ATTACH would even create a file
                was_broken = schema.broken
                failure = schema.run(statement.sql)
                if failure is not None:
                    findings += _failed(schema, statement, file, failure, role, was_broken)
                elif checked:
                    findings.extend(_column_rule(schema, statement, file))
            was_broken = schema.broken
            failure = schema.end()
            if failure is not None and source.statements:
                last = source.statements[-1]
                failure = f"the migration fails when it commits: {failure}"
                findings += _failed(schema, last, file, failure, role, was_broken)
    finally:
        schema.close()
    return _in_file_order(findings, sources)


def _failed(
    schema: _Schema,
    statement: Statement,
    file: str,
    message: str,
    role: str,
    was_broken: bool,
) -> list[Finding]:
    """A failure in the replay, by the `role` of its file: `checked`, an error finding;
    `run`, none (apply's run stops at it and says so); `ground`, the schema rules stop."""
    found = []
    if role == "checked":
        found.append(
            Finding(
                "statement-fails",
                ERROR,
                file,
                statement.line,
                message,
                "make it fit the schema the migrations before it build "
                "(`worktime d1 migrations verify` replays them as apply runs them)",
            )
        )
    elif role == "ground":
        schema.broken = True
    if schema.broken and not was_broken:
        cause = "" if role == "checked" else f" ({message})"
        found.append(
            Finding(
                "not-replayed",
                WARNING,
                file,
                statement.line,
                f"the migrations cannot be replayed past this point{cause}: the schema rules "
                "(cascade-drop, too-many-columns) are not checked on what follows",
                "fix this migration so it replays on an empty database; the static rules "
                "were still checked",
            )
        )
    return found


def _in_file_order(findings: list[Finding], sources: Sequence[Source]) -> list[Finding]:
    order = {str(s.file.path): i for i, s in enumerate(sources)}
    return sorted(findings, key=lambda f: (order.get(f.file, 0), f.line, f.code))


_TOO_LONG_AT = re.compile(r":(\d+): statement is longer than")


def read_for_lint(found: Sequence[MigrationFile]) -> tuple[list[Source], list[Finding]]:
    """Read each file; one holding a statement over D1's limit (the splitter refuses it
    while reading) becomes a `too-large` finding instead of stopping the lint."""
    sources: list[Source] = []
    findings: list[Finding] = []
    for file in found:
        try:
            sources.append(files.read(file))
        except SQLError as exc:
            if exc.hint != STATEMENT_LIMIT_HINT:
                raise
            # The line is in our own splitter's message (sqlscript._too_long's format).
            where = _TOO_LONG_AT.search(exc.message)
            findings.append(
                Finding(
                    "too-large",
                    ERROR,
                    str(file.path),
                    int(where.group(1)) if where else 1,
                    f"a statement is over D1's {MAX_STATEMENT_BYTES:,} bytes",
                    "split it (e.g. several INSERTs of fewer rows each)",
                )
            )
    return sources, findings


def check_allowed(allow: Collection[str]) -> None:
    """`--allow CODE`: a usage error for a code that does not exist."""
    from worktime_cli.errors import UsageError

    unknown = sorted(set(allow) - set(CODES))
    if unknown:
        raise UsageError(
            f"unknown lint code(s): {', '.join(unknown)}",
            hint=f"the codes are: {', '.join(CODES)}",
        )


def layout_findings(where: files.Layout) -> list[Finding]:
    """What is wrong with the files wrangler's walk sees (not with their SQL): down files the
    pattern matches, symlinks it skips."""
    if not where.folder.is_dir():
        return []
    found = files.walk(where)
    findings = [
        Finding(
            "pattern-matches-down",
            ERROR,
            str(where.folder.joinpath(*name.split("/"))),
            1,
            f'migrations_pattern "{where.pattern}" matches this down file: wrangler would run '
            "it as a migration",
            files.down_move_fix(where),
        )
        for name in files.stray_downs(found.names)
    ]
    findings += [
        Finding(
            "symlink-skipped",
            WARNING,
            str(where.folder.joinpath(*name.split("/"))),
            1,
            "a symlink: wrangler >= 4.98 skips symlinked migrations (and folders), so "
            "worktime never applies it either (wrangler 4.86-4.97 still ran such a file)",
            "replace the link with the file itself (e.g. `cp --remove-destination` its target)",
        )
        for name in found.symlinks
    ]
    return findings
