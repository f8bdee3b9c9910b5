"""Lint's vocabulary: every code with its severity, a finding, the result, the refusal.

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

from dataclasses import dataclass
from typing import Any

from worktime_cli.errors import WorktimeError

ERROR = "error"
WARNING = "warning"

ISSUES = "https://github.com/cloudflare/workers-sdk/issues/"

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
