"""Local D1: SQLite files that behave like D1, and what the commands do with them.

Every connection gets D1's pragmas and limits, and an authorizer that refuses what D1
refuses, so a statement that would fail in production fails here first, with a clear message.

- `rules`: D1's limits and statement rules (the authorizer, and the same check for remote D1)
- `connection`: a connection with D1's behaviour (`connect`, `D1Connection`)
- `execute`: `--command`, `--file`, queries and batches, each all or nothing
- `fastpath`: `--file` through SQLite's own loop, with its counting thread
- `databases`: where a database's file lives, info, create and delete
- `local`: the local target of the seam (`LocalD1`, `LocalDatabase`) and `export`
- `dump`, `snapshots`, `inplace`, `pull`, `sanitize`, `schemadiff`, `limits`: as named
"""

from __future__ import annotations

from worktime_cli.d1.connection import D1Connection, connect, set_wal_mode
from worktime_cli.d1.databases import (
    create,
    database_path,
    delete,
    in_use_by,
    list_tables,
    refuse_if_open,
    validate_database_name,
)
from worktime_cli.d1.execute import batch, execute_command, execute_file, is_read_only, query
from worktime_cli.d1.local import LocalD1, LocalDatabase, export
from worktime_cli.d1.rules import LIMIT_HINTS, LIMITS, refused_by_d1
from worktime_cli.sqlite.script import INTERNAL_TABLE_PREFIXES, RESERVED_PREFIX, quote_identifier
from worktime_cli.targets.d1 import DatabaseInfo, FileResult, StatementResult, TableInfo

__all__ = [
    "INTERNAL_TABLE_PREFIXES",
    "LIMITS",
    "LIMIT_HINTS",
    "RESERVED_PREFIX",
    "D1Connection",
    "DatabaseInfo",
    "FileResult",
    "LocalD1",
    "LocalDatabase",
    "StatementResult",
    "TableInfo",
    "batch",
    "connect",
    "create",
    "database_path",
    "delete",
    "execute_command",
    "execute_file",
    "export",
    "in_use_by",
    "is_read_only",
    "list_tables",
    "query",
    "quote_identifier",
    "refuse_if_open",
    "refused_by_d1",
    "set_wal_mode",
    "validate_database_name",
]
