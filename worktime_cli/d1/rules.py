"""D1's statement rules on a local connection: the limits it sets, the authorizer that refuses
what D1 refuses, and the same refusal as a plain check for targets without an authorizer.

A statement that would fail on D1 fails locally first, with the same message either way.
"""

from __future__ import annotations

import re
import sqlite3
from typing import ClassVar

from worktime_cli.sqlite.script import RESERVED_PREFIX

# D1's documented limits, applied per connection so local runs fail where D1 would.
LIMITS = {
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 50,
}
LIMIT_HINTS = {
    "too many SQL variables": "D1 allows at most 100 bound parameters per statement",
    "string or blob too big": "D1 allows statements of at most 100,000 bytes",
    "query string is too large": "D1 allows statements of at most 100,000 bytes",
    "too many columns": "D1 allows at most 100 columns per table or result",
    "LIKE or GLOB pattern too complex": "D1 allows LIKE/GLOB patterns of at most 50 bytes",
}
RENAME_TO_RESERVED = re.compile(r"\bRENAME\s+TO\s+[\"`\[]?_cf_", re.I)


class Guard:
    """sqlite3 authorizer refusing what D1 refuses, armed only around user statements.

    Our own bookkeeping (BEGIN IMMEDIATE, COMMIT) runs disarmed. SQLite consults the
    authorizer only when it prepares a statement, so `connect` turns Python's statement
    cache off: otherwise user SQL identical to one of our control statements would reuse
    its prepared, unguarded copy. This runs once per action of every statement, so the
    common case returns early.
    """

    _REFUSED: ClassVar[dict[int, str]] = {
        sqlite3.SQLITE_TRANSACTION: "D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT "
        "statements; each command or file already runs in one transaction",
        sqlite3.SQLITE_SAVEPOINT: "D1 does not allow BEGIN, COMMIT, ROLLBACK or SAVEPOINT "
        "statements; each command or file already runs in one transaction",
        sqlite3.SQLITE_ATTACH: "D1 does not allow ATTACH or DETACH",
        sqlite3.SQLITE_DETACH: "D1 does not allow ATTACH or DETACH",
    }
    _TABLE_NAME_IN_ARG1 = frozenset(
        {
            sqlite3.SQLITE_CREATE_TABLE,
            sqlite3.SQLITE_CREATE_TEMP_TABLE,
            sqlite3.SQLITE_DROP_TABLE,
            sqlite3.SQLITE_DROP_TEMP_TABLE,
            sqlite3.SQLITE_INSERT,
            sqlite3.SQLITE_UPDATE,
            sqlite3.SQLITE_DELETE,
        }
    )
    _RESERVED = f"table names starting with {RESERVED_PREFIX!r} are reserved by D1"

    def __init__(self) -> None:
        self.armed = False
        self.reason: str | None = None
        # The authorizer sees a rename's old name only; `arm` reads the new one from the SQL.
        self.renames_to_reserved = False

    def arm(self, sql: str | None = None) -> None:
        self.armed = True
        self.reason = None
        self.renames_to_reserved = (
            sql is not None
            and sql[:5].upper() == "ALTER"
            and RENAME_TO_RESERVED.search(sql) is not None
        )

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
    ) -> int:
        if not self.armed:
            return sqlite3.SQLITE_OK
        if action in self._TABLE_NAME_IN_ARG1:
            if arg1 is None or arg1[:4].lower() != RESERVED_PREFIX:
                return sqlite3.SQLITE_OK
            self.reason = self._RESERVED
        elif action == sqlite3.SQLITE_ALTER_TABLE:
            if not (self.renames_to_reserved or (arg2 or "")[:4].lower() == RESERVED_PREFIX):
                return sqlite3.SQLITE_OK
            self.reason = self._RESERVED
        elif (reason := self._REFUSED.get(action)) is not None:
            self.reason = reason
        else:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY


_TRANSACTION_RULE = Guard._REFUSED[sqlite3.SQLITE_TRANSACTION]
_ATTACH_RULE = Guard._REFUSED[sqlite3.SQLITE_ATTACH]
_REFUSED_START = re.compile(
    r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))\s*)*"
    r"(?P<word>BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|ATTACH|DETACH)(?![\w$])",
    re.S | re.I,
)


def refused_by_d1(sql: str) -> str | None:
    """Why D1 refuses this one statement (transaction control, ATTACH), or None.

    For targets without our authorizer (remote D1): the same words the guard uses, checked
    before anything is sent, so both targets refuse the same statement the same way.
    """
    match = _REFUSED_START.match(sql)
    if match is None:
        return None
    return _ATTACH_RULE if match["word"].upper() in ("ATTACH", "DETACH") else _TRANSACTION_RULE
