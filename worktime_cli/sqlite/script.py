"""Split SQL text into statements, streaming, with the line each one starts on.

SQLite's own `complete_statement` decides where a statement ends, so semicolons inside
strings, comments and trigger bodies (`BEGIN … END;`) are handled exactly as SQLite parses
them. Files are read in chunks, so a 1 GB dump is split in flat memory.
"""

from __future__ import annotations

import codecs
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from worktime_cli.errors import SQLError

CHUNK_SIZE = 1 << 20
_SQLITE_MAGIC = b"SQLite format 3\x00"
_WS = " \t\r\n\f\v"


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    line: int  # 1-based line of the statement's first non-blank character


# D1's limit on one statement (SQLITE_LIMIT_SQL_LENGTH), in UTF-8 bytes.
MAX_STATEMENT_BYTES = 100_000
STATEMENT_LIMIT_HINT = "D1 allows statements of at most 100,000 bytes"


def split(text: str, source: str | None = None) -> list[Statement]:
    """All statements in `text` (for `--command` and migration files)."""
    check_utf8(text, source or "the SQL")
    return list(iter_statements([text], source))


def check_utf8(text: str, what: str) -> None:
    """Refuse text holding lone surrogates (bytes argv could not decode), without echoing it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SQLError(
            f"{what} is not valid UTF-8 text (character {exc.start + 1} is an undecodable"
            " byte or a lone surrogate)",
            hint="pass UTF-8 text (check the terminal's or the script's encoding)",
        ) from None


def iter_statements(chunks: Iterable[str], source: str | None = None) -> Iterator[Statement]:
    """Statements from text arriving in `chunks`; a trailing unterminated one is kept.

    Leading blanks and comments are not part of a statement, so its line is where its
    first keyword is: the line an editor should jump to. A statement longer than D1's
    100,000 bytes is refused (`source:line`) as soon as the text read passes the limit, so
    a 64 MiB string literal costs one limit's worth of work and memory, not a re-scan of
    everything pending at every `;` inside it.
    """
    complete = sqlite3.complete_statement
    pending = ""
    line = 1  # line number at the start of `pending`
    for chunk in chunks:
        pending += chunk
        start = 0
        search = 0
        while (semi := pending.find(";", search)) >= 0:
            search = semi + 1
            if search - start > MAX_STATEMENT_BYTES:
                # Longer than the limit in characters, so in bytes too (a character is at
                # least one byte): no need to ask SQLite whether it is complete.
                skipped = leading_noise(pending, start, search)
                if search - skipped > MAX_STATEMENT_BYTES:
                    raise _too_long(source, line + pending.count("\n", start, skipped))
            candidate = pending[start:search]
            if complete(candidate):
                skipped = leading_noise(candidate)
                body = candidate[skipped:]
                first_line = line + candidate.count("\n", 0, skipped)
                line = first_line + body.count("\n")
                if len(body) * 4 > MAX_STATEMENT_BYTES and _utf8_len(body) > MAX_STATEMENT_BYTES:
                    raise _too_long(source, first_line)
                if body != ";":
                    yield Statement(body, first_line)
                start = search
        if len(pending) - start > MAX_STATEMENT_BYTES:
            skipped = leading_noise(pending, start)
            if len(pending) - skipped > MAX_STATEMENT_BYTES:
                raise _too_long(source, line + pending.count("\n", start, skipped))
            # Only blanks and comments so far: drop them, so the pending text stays small.
            line += pending.count("\n", start, skipped)
            start = skipped
        pending = pending[start:]
    skipped = leading_noise(pending)
    if skipped < len(pending):
        first_line = line + pending.count("\n", 0, skipped)
        if _utf8_len(pending[skipped:]) > MAX_STATEMENT_BYTES:
            raise _too_long(source, first_line)
        yield Statement(pending[skipped:], first_line)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _too_long(source: str | None, line: int) -> SQLError:
    where = f"{source}:{line}" if source else f"line {line}"
    return SQLError(
        f"{where}: statement is longer than D1's limit of {MAX_STATEMENT_BYTES:,} bytes",
        hint=STATEMENT_LIMIT_HINT,
    )


def leading_noise(text: str, start: int = 0, end: int | None = None) -> int:
    """End of the blanks and comments from `start` (their length when `start` is 0)."""
    i, n = start, len(text) if end is None else end
    while True:
        while i < n and text[i] in _WS:
            i += 1
        if text.startswith("--", i, n):
            stop = text.find("\n", i, n)
            i = n if stop < 0 else stop + 1
        elif text.startswith("/*", i, n):
            stop = text.find("*/", i + 2, n)
            i = n if stop < 0 else stop + 2
        else:
            return i


@dataclass
class SQLFile:
    """A SQL file opened for streaming; `consumed` counts bytes read (for progress bars)."""

    path: Path
    size: int
    consumed: int = 0

    def chunks(self, on_progress: Callable[[int], None] | None = None) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        with open(self.path, "rb") as handle:
            while raw := handle.read(CHUNK_SIZE):
                self.consumed += len(raw)
                try:
                    text = decoder.decode(raw)
                except UnicodeDecodeError as exc:
                    raise SQLError(
                        f"{self.path}: not UTF-8 text near byte {self.consumed - len(raw) + exc.start}"
                    ) from None
                if "\x00" in text:
                    # SQLite reads SQL as C strings: everything after a NUL would vanish.
                    raise SQLError(
                        f"{self.path}: NUL byte near byte {self.consumed - len(raw) + raw.index(0)}",
                        hint="this is not a SQL text file",
                    )
                if on_progress is not None:
                    on_progress(len(raw))
                yield text
            yield decoder.decode(b"", final=True)


def open_sql_file(path: Path) -> SQLFile:
    """Check that `path` is a readable SQL text file (not a database) and open it for streaming."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
            # The file is read twice (its head, then streamed; again if the fast path gives
            # up): a pipe would hang on open or lose what the first read took.
            raise SQLError(
                f"{path} is not a regular file (a pipe or device)",
                hint="write the SQL to a file first, then pass that file",
            )
        with open(path, "rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
        size = path.stat().st_size
    except FileNotFoundError:
        raise SQLError(f"file {path} not found") from None
    except IsADirectoryError:
        raise SQLError(f"{path} is a folder, not a SQL file") from None
    except OSError as exc:
        raise SQLError(f"cannot read {path}: {exc.strerror}") from None
    if head == _SQLITE_MAGIC:
        raise SQLError(
            f"{path} is a database file, not SQL",
            hint="export it first (`sqlite3 FILE .dump > dump.sql`), then execute the dump",
        )
    return SQLFile(path=path, size=size)


_BEGIN = re.compile(r"BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?(\s+TRANSACTION)?\s*;", re.I)
_PRAGMA = re.compile(r"PRAGMA\b", re.I)
_COMMIT = re.compile(r"(COMMIT|END)(\s+TRANSACTION)?\s*;", re.I)


def without_transaction_wrapper(statements: Iterable[Statement]) -> Iterator[Statement]:
    """Drop a leading `BEGIN TRANSACTION;` and its trailing `COMMIT;`, as wrangler does.

    Dumps from `sqlite3 .dump` are wrapped this way (after a `PRAGMA foreign_keys=OFF;`,
    which may come first); D1 refuses the wrapper itself, and we run the whole file in one
    transaction anyway. Only the outermost pair is removed.
    """
    iterator = iter(statements)
    first = next(iterator, None)
    while first is not None and _PRAGMA.match(first.sql):
        yield first
        first = next(iterator, None)
    if first is None:
        return
    if not _BEGIN.fullmatch(first.sql.strip()):
        yield first
        yield from iterator
        return
    held: Statement | None = None
    for statement in iterator:
        if held is not None:
            yield held
        held = statement
    if held is not None and not _COMMIT.fullmatch(held.sql.strip()):
        # An opening BEGIN with no closing COMMIT is not a wrapper: let D1's rule refuse it.
        raise SQLError(
            f"line {first.line}: the file starts with BEGIN TRANSACTION but does not end with COMMIT",
            hint="D1 runs each file in one transaction; remove the BEGIN, or add the COMMIT",
        )


# Names no user table may have or that listings hide: D1 reserves `_cf_`, SQLite `sqlite_`.
RESERVED_PREFIX = "_cf_"
INTERNAL_TABLE_PREFIXES = ("sqlite_", RESERVED_PREFIX)


def quote_identifier(name: str) -> str:
    """`name` as a SQL identifier, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


def shorten(sql: str, limit: int = 80) -> str:
    """One line of a statement for error messages."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# Besides a '…' string, what can hide a `;` (or a `'`) from the quick count below.
_OTHER_HIDING = ('"', "`", "[", "--", "/*")
_EMPTY_STATEMENT = re.compile(r"(?:^|(?<=;))[ \t\r\n\f\v]*;")
_TWO_SEMICOLONS = re.compile(r";[ \t\r\n\f\v]*;")


def count_statements(text: str) -> int:
    """How many statements `text` holds, exactly as `iter_statements` would yield them.

    The fast `execute --file` path never sees single statements (SQLite runs whole chunks in
    C), so they are counted here at C speed. Splitting at `'` leaves the text outside string
    literals in the even pieces (a doubled `''` makes an empty odd piece), so the `;` there
    end statements. Any other construct that can hide a `;` or a `'` (comments, quoted
    identifiers, a trigger's `BEGIN … END` body, an unterminated string) sends the text the
    exact, slower way; the first such opener always lies in an even piece, so it is seen.
    """
    pieces = text.split("'")
    outside = "0".join(pieces[::2])  # "0": a string stays a non-empty token
    if (
        len(pieces) % 2 == 0
        or any(opener in outside for opener in _OTHER_HIDING)
        or "TRIGGER" in outside.upper()
    ):
        return sum(1 for _ in iter_statements([text]))
    count = outside.count(";")
    if _TWO_SEMICOLONS.search(outside) or outside.lstrip().startswith(";"):
        count -= len(_EMPTY_STATEMENT.findall(outside))
    tail = outside[outside.rfind(";") + 1 :]
    return count + (1 if tail.strip() else 0)
