"""Remote D1 under /accounts/{id}/d1: databases, queries, the `--file` import and the export.

- `databases`: list, look up, create (recording the id in wrangler.toml) and delete
- `queries`: SQL through `/query`, D1's rules checked first, its errors in the local words
- `transfer`: `execute --file --remote` (upload and ingest) and `export --remote` (dump, download)
- `target`: the remote side of the D1 seam (`RemoteD1`, `RemoteD1Database`)
"""

from __future__ import annotations

from worktime_cli.remote.d1.databases import (
    LOCATIONS,
    CreateResult,
    RemoteDatabase,
    create_database,
    delete_database,
    describe,
    get_database,
    list_databases,
    resolve,
)
from worktime_cli.remote.d1.queries import D1_QUERY_ERROR, QueryResult, query
from worktime_cli.remote.d1.target import RemoteD1, RemoteD1Database
from worktime_cli.remote.d1.transfer import (
    UPLOAD_CHUNK,
    ImportResult,
    download_text,
    export_database,
    export_url,
    import_file,
    md5_file,
)

__all__ = [
    "D1_QUERY_ERROR",
    "LOCATIONS",
    "UPLOAD_CHUNK",
    "CreateResult",
    "ImportResult",
    "QueryResult",
    "RemoteD1",
    "RemoteD1Database",
    "RemoteDatabase",
    "create_database",
    "delete_database",
    "describe",
    "download_text",
    "export_database",
    "export_url",
    "get_database",
    "import_file",
    "list_databases",
    "md5_file",
    "query",
    "resolve",
]
