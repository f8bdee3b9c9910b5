"""SQL through remote D1's `/query` endpoint: one request, bound values as the API takes them,
D1's statement rules checked before sending and its SQL errors worded as the local target's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from worktime_cli.errors import RemoteError, SQLError, WorktimeError
from worktime_cli.remote.client import Client
from worktime_cli.targets.d1 import StatementResult

# One statement's answer from D1: the same type the local target returns.
QueryResult = StatementResult


def query(
    client: Client, database_id: str, sql: str, params: list[Any] | None = None
) -> list[QueryResult]:
    """Run `sql` (several statements run as one atomic batch) with optional bound params.

    D1 refuses params with several statements (7400), so that is caught before sending.
    """
    if params is not None:
        from worktime_cli.sqlite import script as sqlscript

        if len(sqlscript.split(sql)) > 1:
            raise SQLError(
                "parameters can only be bound to a single statement",
                hint="send one statement per call when binding parameters",
            )
    body: dict[str, Any] = {"sql": sql}
    if params is not None:
        body["params"] = [param(p) for p in params]
    result = client.call(
        "POST", client.account_path(f"/d1/database/{database_id}/query"), json=body
    ).result
    return [
        QueryResult(
            results=list(item.get("results") or []),
            meta=dict(item.get("meta") or {}),
            success=bool(item.get("success", True)),
        )
        for item in result or []
    ]


def param(value: Any) -> Any:
    # The API's schema types params as strings; D1 accepts JSON numbers and null too, so
    # only values JSON cannot carry are converted.
    if isinstance(value, bytes):
        raise SQLError("blob parameters cannot be sent to remote D1", hint="use X'…' in the SQL")
    return value


D1_QUERY_ERROR = 7500  # D1's code for a statement SQLite refused; the message ends `: SQLITE_…`
_SQLITE_SUFFIX = re.compile(r"^(?P<text>.*?)(?:: (?P<name>SQLITE_[A-Z_]+))?$", re.S)


def sql_error(exc: RemoteError, statements: Sequence[Any], source: str) -> WorktimeError:
    """D1's 7500 as the local target words it: `source:line: message (in: statement)`.

    Classified by Cloudflare's code, not by words. D1 does not say which statement of a
    batch failed, so only a single statement gets its line and text.
    """
    from worktime_cli.sqlite.script import shorten

    if exc.code != D1_QUERY_ERROR:
        return exc
    raw = exc.message.removeprefix(f"{D1_QUERY_ERROR}: ")
    match = _SQLITE_SUFFIX.match(raw)
    text = match.group("text") if match else raw
    if len(statements) == 1:
        (statement,) = statements
        return SQLError(f"{source}:{statement.line}: {text} (in: {shorten(statement.sql)})")
    return SQLError(f"{source}: {text}")


def check_rules(statements: Sequence[Any], source: str) -> None:
    """D1's statement rules, checked before sending: the local target's words and place."""
    from worktime_cli.d1 import refused_by_d1
    from worktime_cli.sqlite.script import shorten

    for statement in statements:
        reason = refused_by_d1(statement.sql)
        if reason is not None:
            raise SQLError(f"{source}:{statement.line}: {reason} (in: {shorten(statement.sql)})")
