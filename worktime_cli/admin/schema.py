"""What the admin commands need of the backend's schema, and a clear error when it is missing."""

from __future__ import annotations

from worktime_cli.admin.targets import Database
from worktime_cli.errors import WorktimeError

MIGRATION = "0001_initial_schema.sql"

REQUIRED: dict[str, tuple[str, ...]] = {
    "users": ("id", "github_user_id", "github_username", "email", "created_at", "last_active"),
    "time_sessions": (
        "id",
        "user_id",
        "repo_owner",
        "repo_name",
        "pr_number",
        "start_time",
        "end_time",
        "duration_seconds",
        "status",
        "created_at",
    ),
    "daily_stats": (
        "id",
        "user_id",
        "repo_owner",
        "repo_name",
        "date",
        "total_duration_seconds",
        "session_count",
        "avg_session_seconds",
    ),
}


class SchemaError(WorktimeError):
    """The database lacks a table or column of the seed schema."""


def problems(db: Database) -> list[str]:
    """Missing tables and columns, e.g. `table daily_stats` or `column users.email`."""
    rows = db.query(
        "SELECT m.name AS t, p.name AS c FROM sqlite_master AS m, pragma_table_info(m.name) AS p"
        " WHERE m.type = 'table' AND m.name IN ('users', 'time_sessions', 'daily_stats')"
    )
    present: dict[str, set[str]] = {}
    for row in rows:
        present.setdefault(str(row["t"]), set()).add(str(row["c"]))
    missing: list[str] = []
    for table, columns in REQUIRED.items():
        if table not in present:
            missing.append(f"table {table}")
            continue
        missing.extend(f"column {table}.{c}" for c in columns if c not in present[table])
    return missing


def require(db: Database, database: str = "DB") -> None:
    """Raise `SchemaError` naming what is missing and the migration to apply."""
    missing = problems(db)
    if missing:
        raise SchemaError(
            f"the database lacks the backend's schema: {', '.join(missing)}",
            hint=f"apply migration {MIGRATION}: `worktime d1 migrations apply {database}`",
        )


def explain_failure(db: Database, exc: WorktimeError, database: str = "DB") -> WorktimeError:
    """After a failed statement: the schema error if the schema is the cause, else `exc`."""
    try:
        require(db, database)
    except SchemaError as schema_error:
        return schema_error
    except WorktimeError:
        return exc
    return exc
