"""The dashboard: the admin report page at `/dashboard`, read-only, for clients on this machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from worktime_cli.dev.bindings import Bindings


def dashboard_allowed(policy: str, client: str) -> bool:
    """Whether `/dashboard` answers `client` under `policy` ("loopback", "any" or "none")."""
    import ipaddress

    if policy == "any":
        return True
    if policy != "loopback":
        return False
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False  # a unix socket or an unknown peer: not provably this machine


def dashboard_page(
    bindings: Bindings, date_from: str | None, date_to: str | None
) -> tuple[int, dict[str, str], bytes]:
    """The report page (`admin.html`) over a read-only connection to the main database."""
    from worktime_cli.admin import html, inputs, report
    from worktime_cli.admin.targets import SQLiteDatabase

    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": html.CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        # Not even loadable by another origin (<iframe>, <img>, no-cors fetch): the page holds
        # users and sessions.
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    factory = bindings.d1.get("DB") or next(iter(bindings.d1.values()), None)
    try:
        if factory is None:
            raise WorktimeError("no D1 database is configured")
        start, end = inputs.parse_range(date_from, date_to)
        conn = factory()
        try:
            # Read-only by construction: the dashboard never writes, whatever a query does.
            conn.execute("PRAGMA query_only = ON")
            board = report.dashboard(SQLiteDatabase.over(conn), report.Filters(start, end))
        finally:
            conn.close()
    except WorktimeError as exc:
        from html import escape

        page = f"<!DOCTYPE html><title>dashboard</title><p>{escape(exc.message)}</p>"
        return 400, headers, page.encode()
    return 200, headers, html.page(board, title="worktime dashboard").encode()
