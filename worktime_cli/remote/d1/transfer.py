"""Whole files to and from remote D1: `execute --file --remote` (init, upload, ingest, poll, as
wrangler does) and `export --remote` (a dump D1 builds, polled for, then downloaded).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worktime_cli import fsutil
from worktime_cli.errors import RemoteError, SQLError
from worktime_cli.remote.client import Client
from worktime_cli.targets.d1 import ExportResult

UPLOAD_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImportResult:
    num_queries: int
    final_bookmark: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    uploaded: bool = True  # False when Cloudflare already had a file with this etag
    messages: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        # The local `execute --file --json` item's shape; D1's import reports no rows.
        return {
            "results": [],
            "success": True,
            "meta": {
                **self.meta,
                "statements": self.num_queries,
                "final_bookmark": self.final_bookmark,
                "uploaded": self.uploaded,
            },
        }


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(UPLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(
    client: Client,
    database_id: str,
    path: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    max_polls: int = 3600,
) -> ImportResult:
    """`execute --file --remote`: init → upload → ingest → poll, as wrangler does.

    The file goes to a presigned URL (no Authorization header: it is not Cloudflare's API
    and must not see the token); the ETag it returns must equal our md5, or nothing is
    ingested.
    """
    import_path = client.account_path(f"/d1/database/{database_id}/import")
    etag = md5_file(path)
    init = client.call("POST", import_path, json={"action": "init", "etag": etag}).result or {}
    filename = init.get("filename")
    upload_url = init.get("upload_url")
    uploaded = False
    if upload_url:
        response = client.send(
            "PUT",
            str(upload_url),
            content=b"".join(_read_chunks(path, on_progress)),
            authenticated=False,
        )
        if not response.is_success:
            raise RemoteError(f"uploading {path.name} failed: HTTP {response.status_code}")
        returned = response.headers.get("etag", "").strip('"')
        if returned != etag:
            raise RemoteError(
                f"uploading {path.name} did not arrive intact (ETag {returned or 'missing'}, expected {etag})",
                hint="run the command again",
            )
        uploaded = True
    if not filename:
        raise RemoteError("Cloudflare's import init returned no filename")
    answer = (
        client.call(
            "POST", import_path, json={"action": "ingest", "etag": etag, "filename": filename}
        ).result
        or {}
    )
    messages: list[str] = []
    for _ in range(max_polls):
        for line in answer.get("messages") or []:
            messages.append(str(line))
            if on_message is not None:
                on_message(str(line))
        status = answer.get("status")
        if status == "complete" or (answer.get("success") is True and "result" in answer):
            done = answer.get("result") or {}
            return ImportResult(
                num_queries=int(done.get("num_queries") or 0),
                final_bookmark=done.get("final_bookmark"),
                meta=dict(done.get("meta") or {}),
                uploaded=uploaded,
                messages=tuple(messages),
            )
        if status == "error" or answer.get("success") is False:
            raise SQLError(
                f"{path.name}: import failed: {answer.get('error') or 'unknown error'}",
                hint="nothing after the failing statement ran; fix the file and run it again",
            )
        bookmark = answer.get("at_bookmark")
        if not bookmark:
            raise RemoteError("Cloudflare's import returned no bookmark to poll")
        if _ > 0:
            client.sleep(poll_interval)
        answer = (
            client.call(
                "POST",
                import_path,
                json={"action": "poll", "current_bookmark": bookmark},
                idempotent=True,
            ).result
            or {}
        )
    raise RemoteError(
        f"{path.name}: the import did not finish in time", hint="check the database later"
    )


def _read_chunks(path: Path, on_progress: Callable[[int], None] | None) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(UPLOAD_CHUNK), b""):
            if on_progress is not None:
                on_progress(len(chunk))
            yield chunk


_CREATE_TABLE = re.compile(
    r'CREATE TABLE (?:IF NOT EXISTS )?(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|([\w$]+))', re.I
)


def export_url(
    client: Client,
    database_id: str,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_message: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    max_polls: int = 3600,
) -> str:
    """Ask D1 for a dump and poll until it is ready: the signed URL it can be downloaded from
    (`export_database` downloads it to a file, `download_text` as text chunks in memory)."""
    from worktime_cli.d1.dump import check_parts

    check_parts(data=data, schema=schema)
    path = client.account_path(f"/d1/database/{database_id}/export")
    options = {"no_data": not data, "no_schema": not schema, "tables": list(tables)}
    bookmark: str | None = None
    for attempt in range(max_polls):
        body: dict[str, Any] = {"output_format": "polling", "dump_options": options}
        if bookmark is not None:
            body["current_bookmark"] = bookmark
        answer = client.call("POST", path, json=body, idempotent=True).result or {}
        for line in answer.get("messages") or []:
            if on_message is not None:
                on_message(str(line))
        status = answer.get("status")
        if status == "complete":
            break
        if status == "error" or answer.get("success") is False:
            raise RemoteError(f"export failed: {answer.get('error') or 'unknown error'}")
        bookmark = answer.get("at_bookmark")
        if not bookmark:
            raise RemoteError("Cloudflare's export returned no bookmark to poll")
        if attempt > 0:
            client.sleep(poll_interval)
    else:
        raise RemoteError("the export did not finish in time", hint="try again later")
    url = (answer.get("result") or {}).get("signed_url")
    if not url:
        raise RemoteError("Cloudflare's export finished without a download URL")
    return str(url)


def download_text(
    client: Client, url: str, *, on_progress: Callable[[int, int | None], None] | None = None
) -> Iterator[str]:
    """The dump at the signed `url` as text chunks while it downloads, written nowhere.

    `on_progress(bytes so far, total or None)` after each chunk. The URL is presigned: no
    Authorization header goes with it.
    """
    import httpx

    try:
        with client.http.stream("GET", url) as response:
            if not response.is_success:
                raise RemoteError(f"downloading the export failed: HTTP {response.status_code}")
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            for text in response.iter_text():
                if on_progress is not None:
                    on_progress(response.num_bytes_downloaded, total)
                yield text
    except httpx.TransportError as exc:
        raise RemoteError(
            f"downloading the export failed ({type(exc).__name__})", hint="try again"
        ) from None


def export_database(
    client: Client,
    database_id: str,
    output: Path,
    *,
    data: bool = True,
    schema: bool = True,
    tables: Sequence[str] = (),
    on_message: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    max_polls: int = 3600,
) -> ExportResult:
    """`d1 export --remote`: ask D1 for a dump, poll until it is ready, download it, as wrangler.

    The dump comes from a presigned URL (no Authorization header: it is not Cloudflare's
    API). It is written atomically, so a failed download leaves no partial file.
    """

    url = export_url(
        client,
        database_id,
        data=data,
        schema=schema,
        tables=tables,
        on_message=on_message,
        poll_interval=poll_interval,
        max_polls=max_polls,
    )
    response = client.send("GET", url, authenticated=False)
    if not response.is_success:
        raise RemoteError(f"downloading the export failed: HTTP {response.status_code}")
    output = output.resolve()
    # The local export's rule: a FIFO or device is written into, a file replaced atomically.
    with fsutil.atomic_output(output) as out:
        out.write(response.content)
    # D1's dump has one statement per line: the summary is read from it, not guessed.
    names: list[str] = []
    rows = 0
    for line in response.text.splitlines():
        if line.startswith("INSERT INTO"):
            rows += 1
        elif (match := _CREATE_TABLE.match(line)) is not None:
            quoted, backtick, bracket, bare = match.groups()
            names.append(quoted.replace('""', '"') if quoted else backtick or bracket or bare)
    return ExportResult(
        path=output,
        tables=tuple(names) if schema else tuple(tables),
        rows=rows,
        size=output.stat().st_size,
    )
