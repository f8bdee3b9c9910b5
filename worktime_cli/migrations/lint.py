"""`migrations lint`: D1's hazards found before apply, each with a code, a severity and a fix.

Static rules look at one statement's text; schema rules (the cascade one, column counts)
replay the migrations into a plain in-memory SQLite database, statement by statement, so
they see the schema exactly as it is when the statement runs. That scratch database has no
D1 limits (the limits are what is being checked) and foreign keys on, as on D1.

A statement that fails in the replay is a finding of its own, and the replay goes on
without it: the statements after it are still checked (a failing copy two lines above a
cascading DROP must not hide the DROP). Lint is never silent about what it could not check.

The codes are listed in `lint_codes`; the rules are in `lint_statements` (static) and
`lint_schema` (schema). This module runs them over the files and reads the files for it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from worktime_cli.errors import SQLError
from worktime_cli.migrations import files
from worktime_cli.migrations.derive import tokens
from worktime_cli.migrations.files import MigrationFile, Source
from worktime_cli.migrations.lint_codes import CODES, ERROR, WARNING, Finding
from worktime_cli.migrations.lint_schema import ReplayedSchema, column_rule, schema_rules
from worktime_cli.migrations.lint_statements import (
    MAX_STATEMENT_BYTES,
    REFUSED,
    comment_quotes,
    static,
    upper,
)
from worktime_cli.sqlite.script import STATEMENT_LIMIT_HINT, Statement


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
    schema = ReplayedSchema()
    try:
        for source in sources:
            checked = check is None or source.name in check
            role = ("checked" if check is None else "run") if checked else "ground"
            file = str(source.file.path)
            if checked:
                findings.extend(comment_quotes(source))
            schema.begin()
            for at, statement in enumerate(source.statements):
                if checked:
                    findings.extend(static(statement, file))
                    later = source.statements[at + 1 :]
                    findings.extend(schema_rules(schema, statement, file, later))
                if upper(tokens(statement.sql, limit=1), 0) in REFUSED:
                    continue  # D1 refuses it (`transaction`); ATTACH would even create a file
                was_broken = schema.broken
                failure = schema.run(statement.sql)
                if failure is not None:
                    findings += _failed(schema, statement, file, failure, role, was_broken)
                elif checked:
                    findings.extend(column_rule(schema, statement, file))
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
    schema: ReplayedSchema,
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
