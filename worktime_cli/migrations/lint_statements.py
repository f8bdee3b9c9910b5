"""Lint's static rules: what one statement's text shows, with no schema to look at."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from worktime_cli.migrations.derive import TOKEN, tokens, unquote
from worktime_cli.migrations.files import Source
from worktime_cli.migrations.lint_codes import CODES, ISSUES, Finding
from worktime_cli.sqlite.script import Statement

MAX_STATEMENT_BYTES = 100_000

_FK_OFF = re.compile(r"^(?:off|0|false|no)$", re.I)
_CASE = re.compile(r"\bCASE\b", re.I)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
REFUSED = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH"}
)


def upper(toks: Sequence[str], i: int) -> str:
    return toks[i].upper() if i < len(toks) else ""


def static(statement: Statement, file: str) -> Iterable[Finding]:
    sql = statement.sql
    line = statement.line
    toks = tokens(sql, limit=12)
    head = upper(toks, 0)

    def finding(code: str, message: str, fix: str, issue: int | None = None) -> Finding:
        ref = None if issue is None else f"{ISSUES}{issue}"
        return Finding(code, CODES[code], file, line, message, fix, ref)

    size = len(sql.encode("utf-8"))
    if size > MAX_STATEMENT_BYTES:
        yield finding(
            "too-large",
            f"the statement is {size:,} bytes; D1 allows {MAX_STATEMENT_BYTES:,}",
            "split it (e.g. several INSERTs of fewer rows each)",
        )
    if head in REFUSED:
        yield finding(
            "transaction",
            f"D1 refuses {head} statements",
            "remove it: each migration already runs as one atomic transaction (batch on D1)",
        )
    if head == "PRAGMA":
        name = unquote(toks[3] if upper(toks, 2) == "." and len(toks) > 3 else at(toks, 1))
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
    if head == "DROP" and upper(toks, 1) == "TABLE":
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
    if head == "ALTER" and upper(toks, 3) == "ADD":
        body = _COMMENT.sub(" ", sql)
        if re.search(r"\bNOT\s+NULL\b", body, re.I) and not re.search(r"\bDEFAULT\b", body, re.I):
            yield finding(
                "not-null-no-default",
                "ADD COLUMN … NOT NULL needs a DEFAULT (SQLite refuses it otherwise)",
                "add DEFAULT <value>, or add the column nullable, backfill it, then rebuild",
            )
    if head == "CREATE" and "TRIGGER" in (t.upper() for t in toks[1:4]):
        yield from _trigger(sql, finding)


def at(toks: Sequence[str], i: int) -> str:
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


def comment_quotes(source: Source) -> Iterable[Finding]:
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
                f"{ISSUES}4713",
            )
            return  # one per file is enough to act on
