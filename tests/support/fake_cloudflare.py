"""A fake Cloudflare API for tests: a real HTTP server on 127.0.0.1 in a background thread.

It speaks the envelope, page and cursor pagination, the error codes worktime handles, the
D1 import flow (backed by SQLite files), KV values/metadata/keys/bulk and Worker script
secrets. Every request is recorded with its raw path, headers and body, and every JSON
response with its body, so tests can assert on the wire and validate it against the spec.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from worktime_cli import clock

TOKEN = "test-token-5f3c9a1e-very-secret"
ACCOUNT = "0123456789abcdef0123456789abcdef"


@dataclass
class Recorded:
    method: str
    raw_path: str  # as sent on the wire, percent-encoding intact
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: Any = None  # parsed JSON of the answer, when it was JSON
    response_type: str = ""

    @property
    def path(self) -> str:
        return self.raw_path.split("?", 1)[0]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    method: str
    path_pattern: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    times: int = 1
    body_contains: bytes | None = None  # only requests whose body holds these bytes


@dataclass
class Database:
    uuid: str
    name: str
    path: Path
    created_at: str = "2024-08-01T00:00:00.000Z"


@dataclass
class KVEntry:
    value: bytes
    expiration: int | None = None
    metadata: Any = None


class FakeCloudflare:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.tokens = {TOKEN: "active"}
        self.accounts: list[dict[str, str]] = [{"id": ACCOUNT, "name": "Worktime Team"}]
        self.databases: dict[str, Database] = {}
        self.namespaces: dict[str, dict[str, Any]] = {}  # id -> {title, entries}
        self.scripts: dict[str, dict[str, str]] = {}
        # A script's bindings other than its secrets (vars, KV…), as its settings list them.
        self.script_bindings: dict[str, list[dict[str, Any]]] = {}
        self.uploads: dict[str, bytes] = {}
        self.imports: dict[str, dict[str, Any]] = {}
        self.exports: dict[str, dict[str, Any]] = {}  # bookmark -> the finished export answer
        self.downloads: dict[str, bytes] = {}  # filename -> dump served at /__download/
        # database uuid -> [(bookmark, taken at, file bytes or None)], oldest first
        self.time_travel: dict[str, list[tuple[str, float, bytes | None]]] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.default_per_page = 20
        # Seconds added to every answer, and once more to every new connection (the TCP
        # handshake's round trip): a stand-in for the network, for the remote bench.
        self.latency = 0.0
        self.connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/client/v4"

    def start(self) -> FakeCloudflare:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    # --- test helpers -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        code: int = 10001,
        message: str = "fault injected",
        body_contains: bytes | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` (JSON envelope by default).

        `body_contains`: only requests whose body holds these bytes (one chunk of a bulk
        write, whichever order concurrent chunks arrive in).
        """
        if body is None:
            body = json.dumps(_failure(code, message)).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.faults.append(
            Fault(method, path_pattern, status, headers or {}, body, times, body_contains)
        )

    def add_database(self, name: str, db_uuid: str | None = None) -> Database:
        db_uuid = db_uuid or str(uuid.uuid4())
        db = Database(db_uuid, name, self.data_dir / f"{db_uuid}.sqlite")
        self.databases[db_uuid] = db
        return db

    def sql(self, db_uuid: str, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.databases[db_uuid].path)
        try:
            rows = conn.execute(sql).fetchall()
            conn.commit()  # a test's own write (sqlite3 opens a transaction before DML)
            return rows
        finally:
            conn.close()

    def add_namespace(self, title: str) -> str:
        ns_id = uuid.uuid4().hex
        self.namespaces[ns_id] = {"title": title, "entries": {}}
        return ns_id

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def _take_fault(self, req: Recorded) -> Fault | None:
        with self.lock:  # concurrent requests: each injected answer is used exactly `times`
            for fault in self.faults:
                if (
                    fault.times > 0
                    and fault.method == req.method
                    and re.search(fault.path_pattern, req.path)
                    and (fault.body_contains is None or fault.body_contains in req.body)
                ):
                    fault.times -= 1
                    return fault
        return None

    # --- routing ----------------------------------------------------------------------------

    def handle(self, req: Recorded) -> tuple[int, dict[str, str], bytes]:
        fault = self._take_fault(req)
        if fault is not None:
            return fault.status, fault.headers, fault.body
        path = unquote(req.path.removeprefix("/client/v4"))
        if path.startswith("/__upload/"):
            return self._upload(req, req.path.removeprefix("/client/v4/__upload/"))
        if path.startswith("/__download/"):
            found = self.downloads.get(path.removeprefix("/__download/"))
            if req.method != "GET" or found is None:
                return 404, {}, b""
            return 200, {"Content-Type": "application/sql"}, found
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token is None:
            return _json(
                400, _failure(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
            )
        if token not in self.tokens:
            return _json(400, _failure(9109, "Invalid access token"))
        segments = [unquote(s) for s in req.path.removeprefix("/client/v4").split("/")[1:]]
        if path == "/user/tokens/verify":
            status = self.tokens[token]
            return _ok({"id": "f267e341f3dd4697bd3b9f71dd96247f", "status": status})
        if path == "/accounts":
            return self._paged(req, [dict(a) for a in self.accounts])
        if len(segments) < 3 or segments[0] != "accounts":
            return _json(404, _failure(7003, "No route for the URI"))
        if segments[1] not in {a["id"] for a in self.accounts}:
            return _json(403, _failure(10000, "Authentication error"))
        rest = segments[2:]
        with self.lock:
            if rest[:1] == ["d1"]:
                return self._d1(req, rest[1:])
            if rest[:2] == ["storage", "kv"]:
                return self._kv(req, rest[3:])
            if rest[:2] == ["workers", "scripts"]:
                return self._secrets(req, rest[2:])
        return _json(404, _failure(7003, "No route for the URI"))

    def _paged(self, req: Recorded, items: list[Any]) -> tuple[int, dict[str, str], bytes]:
        page = int(req.query.get("page", ["1"])[0])
        per_page = int(req.query.get("per_page", [str(self.default_per_page)])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        total_pages = max(1, -(-len(items) // per_page))
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": len(items),
            "total_pages": total_pages,
        }
        return _json(
            200,
            {"success": True, "errors": [], "messages": [], "result": chunk, "result_info": info},
        )

    # --- D1 ---------------------------------------------------------------------------------

    def _d1(self, req: Recorded, rest: list[str]) -> tuple[int, dict[str, str], bytes]:
        if rest == ["database"] and req.method == "GET":
            name = req.query.get("name", [None])[0]
            items = [
                _db_json(db) for db in self.databases.values() if name is None or name in db.name
            ]
            return self._paged(req, items)
        if rest == ["database"] and req.method == "POST":
            body = req.json()
            if any(db.name == body["name"] for db in self.databases.values()):
                return _json(400, _failure(7502, "A database with that name already exists"))
            db = self.add_database(body["name"])
            sqlite3.connect(db.path).close()
            return _ok(_db_json(db))
        if len(rest) < 2 or rest[0] != "database":
            return _json(404, _failure(7003, "No route for the URI"))
        found = self.databases.get(rest[1])
        if found is None:
            return _json(404, _failure(7404, f"The database {rest[1]} could not be found"))
        db = found
        action = rest[2:]
        if action == [] and req.method == "GET":
            return _ok(
                {
                    **_db_json(db),
                    "num_tables": 0,
                    "file_size": db.path.stat().st_size if db.path.exists() else 0,
                }
            )
        if action == [] and req.method == "DELETE":
            del self.databases[db.uuid]
            db.path.unlink(missing_ok=True)
            return _ok(None)
        if action == ["query"] and req.method == "POST":
            body = req.json()
            try:
                if "batch" in body:
                    # D1's newer body (api-schemas' d1_batch-query): one transaction for all.
                    results = self._run_batch(
                        db, [(item["sql"], item.get("params")) for item in body["batch"]]
                    )
                else:
                    results = self._run_sql(db, body["sql"], body.get("params"))
            except _D1Error as exc:
                return _json(400, _failure(exc.code, exc.message))
            return _ok(results)
        if action == ["import"] and req.method == "POST":
            return self._import(req, db)
        if action == ["export"] and req.method == "POST":
            return self._export(req, db)
        if action[:1] == ["time_travel"]:
            return self._time_travel(req, db, action[1:])
        return _json(404, _failure(7003, "No route for the URI"))

    # --- D1 Time Travel ----------------------------------------------------------------------
    # A bookmark is a copy of the database file's bytes at the moment it was asked for (None:
    # no file yet), so a restore really puts the content back. A `timestamp` answers the newest
    # bookmark taken at or before it (the fake keeps no history between bookmarks).

    def _bookmark(self, db: Database) -> str:
        history = self.time_travel.setdefault(db.uuid, [])
        mark = f"{len(history) + 1:08x}-{int(clock.timestamp()):08x}-00000000-{uuid.uuid4().hex}"
        content = db.path.read_bytes() if db.path.exists() else None
        history.append((mark, clock.timestamp(), content))
        return mark

    def _time_travel(
        self, req: Recorded, db: Database, rest: list[str]
    ) -> tuple[int, dict[str, str], bytes]:
        history = self.time_travel.setdefault(db.uuid, [])
        timestamp = req.query.get("timestamp", [None])[0]
        older: list[str] = []
        if timestamp is not None:
            try:
                when = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return _json(400, _failure(7400, f"Invalid timestamp: {timestamp}"))
            older = [m for m, at, _ in history if at <= when]
            if not older:
                return _json(400, _failure(7400, "No bookmark at or before that timestamp"))
        if rest == ["bookmark"] and req.method == "GET":
            return _ok({"bookmark": older[-1] if timestamp is not None else self._bookmark(db)})
        if rest == ["restore"] and req.method == "POST":
            wanted = older[-1] if timestamp is not None else req.query.get("bookmark", [""])[0]
            found = [content for m, _, content in history if m == wanted]
            if not found:
                return _json(400, _failure(7400, f"Invalid bookmark: {wanted}"))
            previous = self._bookmark(db)
            if found[0] is None:
                db.path.unlink(missing_ok=True)
            else:
                db.path.write_bytes(found[0])
            return _ok(
                {"bookmark": wanted, "message": "Database restored", "previous_bookmark": previous}
            )
        return _json(404, _failure(7003, "No route for the URI"))

    def _run_sql(self, db: Database, sql: str, params: list[Any] | None) -> list[dict[str, Any]]:
        from worktime_cli.sqlite import script as sqlscript

        statements = sqlscript.split(sql)
        if params is not None and len(statements) > 1:
            raise _D1Error(7400, "A prepared SQL statement must contain only one statement.")
        if not statements:
            raise _D1Error(7500, "No SQL statements detected.")
        return self._run_batch(db, [(s.sql, params) for s in statements])

    def _run_batch(
        self, db: Database, statements: list[tuple[str, list[Any] | None]]
    ) -> list[dict[str, Any]]:
        """Every statement in one transaction, as D1 runs a batch: all or nothing."""
        from worktime_cli.sqlite import script as sqlscript

        if not statements:
            raise _D1Error(7500, "No SQL statements detected.")
        for sql, params in statements:
            if params is not None and len(sqlscript.split(sql)) > 1:
                raise _D1Error(7400, "A prepared SQL statement must contain only one statement.")
            if re.match(r"\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT)\b", sql, re.I):
                raise _D1Error(
                    7500,
                    "To execute a transaction, please use the state.storage.transaction() "
                    "or state.storage.transactionSync() APIs instead of the SQL BEGIN "
                    "TRANSACTION or SAVEPOINT statements.: SQLITE_AUTH",
                )
        conn = sqlite3.connect(db.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")  # always on in D1
        out = []
        try:
            conn.execute("BEGIN")
            for sql, params in statements:
                started = time.perf_counter()
                before = conn.total_changes
                cursor = conn.execute(sql, params or [])
                rows = [dict(r) for r in cursor.fetchall()]
                out.append(
                    {
                        "results": rows,
                        "success": True,
                        "meta": {
                            "changed_db": conn.total_changes > before,
                            "changes": conn.total_changes - before,
                            "duration": (time.perf_counter() - started) * 1000,
                            "last_row_id": cursor.lastrowid or 0,
                            "rows_read": len(rows),
                            "rows_written": conn.total_changes - before,
                            "size_after": 0,
                        },
                    }
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            # D1 ends the message with SQLite's code name, e.g. `: SQLITE_CONSTRAINT`.
            name = getattr(exc, "sqlite_errorname", None) or "SQLITE_ERROR"
            raise _D1Error(7500, f"{exc}: {name}") from None
        finally:
            conn.close()
        return out

    def _import(self, req: Recorded, db: Database) -> tuple[int, dict[str, str], bytes]:
        body = req.json()
        action = body.get("action")
        if action == "init":
            filename = f"{db.uuid}-{body['etag']}.sql"
            if filename in self.uploads:
                return _ok({"success": True, "filename": filename})
            base = self.url
            return _ok(
                {
                    "success": True,
                    "filename": filename,
                    "upload_url": f"{base}/__upload/{filename}?X-Amz-Signature=abc",
                }
            )
        if action == "ingest":
            data = self.uploads.get(body["filename"])
            if data is None or hashlib.md5(data).hexdigest() != body["etag"]:
                return _ok(
                    {
                        "success": False,
                        "error": "File not found or etag mismatch",
                        "status": "error",
                    }
                )
            bookmark = f"bm-{uuid.uuid4().hex[:8]}"
            try:
                results = self._run_sql(db, data.decode("utf-8"), None)
                outcome: dict[str, Any] = {
                    "success": True,
                    "type": "import",
                    "status": "complete",
                    "at_bookmark": bookmark,
                    "messages": ["Imported"],
                    "result": {
                        "num_queries": len(results),
                        "final_bookmark": bookmark + "-final",
                        "meta": {"changes": sum(r["meta"]["changes"] for r in results)},
                    },
                }
            except _D1Error as exc:
                outcome = {
                    "success": False,
                    "type": "import",
                    "status": "error",
                    "at_bookmark": bookmark,
                    "error": exc.message,
                }
            self.imports[bookmark] = outcome
            # Answer "in progress" first, so the client has to poll.
            return _ok(
                {
                    "success": True,
                    "type": "import",
                    "at_bookmark": bookmark,
                    "messages": ["Uploaded, starting import"],
                }
            )
        if action == "poll":
            polled = self.imports.get(body.get("current_bookmark", ""))
            if polled is None:
                return _json(400, _failure(7400, "No import in progress"))
            return _ok(polled)
        return _json(400, _failure(7400, "Unknown action"))

    def _export(self, req: Recorded, db: Database) -> tuple[int, dict[str, str], bytes]:
        """D1's polling export: the first call starts it, a poll with the bookmark finishes it."""
        body = req.json()
        if body.get("output_format") != "polling":
            return _json(400, _failure(7400, "output_format must be 'polling'"))
        polled = body.get("current_bookmark")
        if polled is not None:
            done = self.exports.get(polled)
            if done is None:
                return _json(400, _failure(7400, "No export in progress"))
            return _ok(done)
        options = body.get("dump_options") or {}
        bookmark = f"bm-{uuid.uuid4().hex[:8]}"
        filename = f"{db.uuid}-{bookmark}.sql"
        try:
            self.downloads[filename] = _dump(db.path, options)
            outcome: dict[str, Any] = {
                "success": True,
                "type": "export",
                "status": "complete",
                "at_bookmark": bookmark,
                "messages": ["Uploaded part 1"],
                "result": {"filename": filename, "signed_url": f"{self.url}/__download/{filename}"},
            }
        except sqlite3.Error as exc:
            outcome = {
                "success": False,
                "type": "export",
                "status": "error",
                "at_bookmark": bookmark,
                "error": str(exc),
            }
        self.exports[bookmark] = outcome
        return _ok({"success": True, "type": "export", "at_bookmark": bookmark, "messages": []})

    def _upload(self, req: Recorded, filename: str) -> tuple[int, dict[str, str], bytes]:
        if req.method != "PUT":
            return 405, {}, b""
        self.uploads[filename.split("?", 1)[0]] = req.body
        return 200, {"ETag": f'"{hashlib.md5(req.body).hexdigest()}"'}, b""

    # --- KV ---------------------------------------------------------------------------------

    def _kv(self, req: Recorded, rest: list[str]) -> tuple[int, dict[str, str], bytes]:
        if rest == [] and req.method == "GET":
            items = [
                {"id": i, "title": n["title"], "supports_url_encoding": True}
                for i, n in self.namespaces.items()
            ]
            return self._paged(req, items)
        if rest == [] and req.method == "POST":
            title = req.json().get("title")
            if any(n["title"] == title for n in self.namespaces.values()):
                return _json(
                    400,
                    _failure(10014, "a namespace with this account ID and title already exists"),
                )
            ns_id = self.add_namespace(title)
            return _ok({"id": ns_id, "title": title, "supports_url_encoding": True})
        ns = self.namespaces.get(rest[0])
        if ns is None:
            return _json(404, _failure(10013, "namespace not found"))
        entries: dict[str, KVEntry] = ns["entries"]
        action = rest[1:]
        if action == [] and req.method == "DELETE":
            del self.namespaces[rest[0]]
            return _ok(None)
        if len(action) == 2 and action[0] == "values":
            key = action[1]
            if req.method == "PUT":
                return self._kv_put(req, entries, key)
            if key not in entries:
                return _json(404, _failure(10009, "get: 'key not found'"))
            if req.method == "GET":
                return 200, {"Content-Type": "application/octet-stream"}, entries[key].value
            if req.method == "DELETE":
                del entries[key]
                return _ok(None)
        if len(action) == 2 and action[0] == "metadata" and req.method == "GET":
            if action[1] not in entries:
                return _json(404, _failure(10009, "get: 'key not found'"))
            return _ok(entries[action[1]].metadata)
        if action == ["keys"] and req.method == "GET":
            prefix = req.query.get("prefix", [""])[0]
            limit = int(req.query.get("limit", ["1000"])[0])
            start = int(req.query.get("cursor", ["0"])[0] or 0)
            names = sorted(k for k in entries if k.startswith(prefix))
            chunk = names[start : start + limit]
            cursor = str(start + limit) if start + limit < len(names) else ""
            result = []
            for name in chunk:
                item: dict[str, Any] = {"name": name}
                if entries[name].expiration is not None:
                    item["expiration"] = entries[name].expiration
                if entries[name].metadata is not None:
                    item["metadata"] = entries[name].metadata
                result.append(item)
            return _json(
                200,
                {
                    "success": True,
                    "errors": [],
                    "messages": [],
                    "result": result,
                    "result_info": {"count": len(chunk), "cursor": cursor},
                },
            )
        if action == ["bulk"] and req.method == "PUT":
            items = req.json()
            if len(items) > 10000:
                return _json(400, _failure(10001, "too many items"))
            for item in items:
                import base64

                value = (
                    base64.b64decode(item["value"])
                    if item.get("base64")
                    else item["value"].encode()
                )
                entries[item["key"]] = KVEntry(value, item.get("expiration"), item.get("metadata"))
            return _ok({"successful_key_count": len(items), "unsuccessful_keys": []})
        if action == ["bulk", "delete"] and req.method == "POST":
            keys = req.json()
            for key in keys:
                entries.pop(key, None)
            return _ok({"successful_key_count": len(keys), "unsuccessful_keys": []})
        return _json(404, _failure(7003, "No route for the URI"))

    def _kv_put(
        self, req: Recorded, entries: dict[str, KVEntry], key: str
    ) -> tuple[int, dict[str, str], bytes]:
        expiration = req.query.get("expiration", [None])[0]
        ttl = req.query.get("expiration_ttl", [None])[0]
        when = (
            int(expiration) if expiration else (int(clock.timestamp()) + int(ttl) if ttl else None)
        )
        content_type = req.headers.get("content-type", "")
        metadata = None
        value = req.body
        if content_type.startswith("multipart/form-data"):
            parts = _multipart(content_type, req.body)
            value = parts.get("value", b"")
            if "metadata" in parts:
                metadata = json.loads(parts["metadata"])
        entries[key] = KVEntry(value, when, metadata)
        return _ok(None)

    # --- secrets ----------------------------------------------------------------------------

    def _secrets(self, req: Recorded, rest: list[str]) -> tuple[int, dict[str, str], bytes]:
        script = self.scripts.get(rest[0])
        if script is None:
            return _json(404, _failure(10007, "This Worker does not exist on your account."))
        if rest[1:] == ["secrets"] and req.method == "PUT":
            body = req.json()
            script[body["name"]] = body["text"]
            return _ok({"name": body["name"], "type": body["type"]})
        if rest[1:] == ["secrets"] and req.method == "GET":
            return _ok([{"name": n, "type": "secret_text"} for n in sorted(script)])
        if rest[1:] == ["settings"] and req.method == "GET":
            return _ok({"bindings": self._bindings(rest[0]), "compatibility_date": "2024-09-23"})
        if rest[1:] == ["settings"] and req.method == "PATCH":
            return self._patch_settings(req, rest[0], script)
        if len(rest) == 3 and rest[1] == "secrets" and req.method == "DELETE":
            if rest[2] not in script:
                return _json(404, _failure(10056, "secret not found"))
            del script[rest[2]]
            return _ok(None)
        return _json(404, _failure(7003, "No route for the URI"))

    def _bindings(self, name: str) -> list[dict[str, Any]]:
        secrets = [{"type": "secret_text", "name": n} for n in sorted(self.scripts[name])]
        return [dict(b) for b in self.script_bindings.get(name, [])] + secrets

    def _patch_settings(
        self, req: Recorded, name: str, script: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """The bindings as sent become the script's (all at once): a secret_text with `text`
        is set, one without is kept as it was, any binding not listed is removed."""
        parts = _multipart(req.headers.get("content-type", ""), req.body)
        bindings = json.loads(parts["settings"])["bindings"]
        names = [b["name"] for b in bindings]
        if len(names) != len(set(names)):
            return _json(400, _failure(10021, "binding names must be unique"))
        others = {b["name"]: b for b in self.script_bindings.get(name, [])}
        secrets: dict[str, str] = {}
        kept: list[dict[str, Any]] = []
        for binding in bindings:
            if binding["type"] == "secret_text" and "text" in binding:
                secrets[binding["name"]] = binding["text"]
            elif binding["type"] == "secret_text" and binding["name"] in script:
                secrets[binding["name"]] = script[binding["name"]]
            elif binding["name"] in others:
                kept.append(others[binding["name"]])
            else:
                return _json(
                    400, _failure(10021, f"binding {binding['name']} has nothing to inherit")
                )
        script.clear()
        script.update(secrets)
        self.script_bindings[name] = kept
        return _ok({"bindings": self._bindings(name)})


def _dump(path: Path, options: dict[str, Any]) -> bytes:
    """A dump as D1 writes one: one statement per line, schema then rows."""
    conn = sqlite3.connect(path)
    try:
        wanted = set(options.get("tables") or [])
        lines: list[str] = ["PRAGMA defer_foreign_keys=TRUE;"]
        tables = [
            (name, sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY rowid"
            )
            if not wanted or name in wanted
        ]
        for name, sql in tables:
            if not options.get("no_schema"):
                lines.append(f"{sql};")
            if not options.get("no_data"):
                quoted = '"' + name.replace('"', '""') + '"'
                for row in conn.execute(f"SELECT * FROM {quoted}"):
                    values = ",".join(_literal(v) for v in row)
                    lines.append(f"INSERT INTO {quoted} VALUES({values});")
        return ("\n".join(lines) + "\n").encode()
    finally:
        conn.close()


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"


class _D1Error(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _db_json(db: Database) -> dict[str, Any]:
    return {"uuid": db.uuid, "name": db.name, "created_at": db.created_at, "version": "production"}


def _failure(code: int, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _ok(result: Any) -> tuple[int, dict[str, str], bytes]:
    return _json(200, {"success": True, "errors": [], "messages": [], "result": result})


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts[str(name)] = payload if isinstance(payload, bytes) else b""
    return parts


class _Handler(BaseHTTPRequestHandler):
    api: FakeCloudflare
    protocol_version = "HTTP/1.1"
    # The headers and the body are two writes: with Nagle on, a kept-alive connection waits
    # for the client's delayed ACK (40 ms on Linux) before every body, a delay no server has.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not access logs

    def setup(self) -> None:
        super().setup()
        with self.api.lock:
            self.api.connections += 1
        if self.api.latency:
            time.sleep(self.api.latency)  # the new connection's handshake round trip

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        record = Recorded(
            method=self.command,
            raw_path=self.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        with self.api.lock:
            self.api.requests.append(record)
        if self.api.latency:
            time.sleep(self.api.latency)  # outside the lock: requests overlap as on a network
        status, headers, payload = self.api.handle(record)
        record.status = status
        record.response_type = headers.get("Content-Type", "")
        if record.response_type == "application/json":
            record.response = json.loads(payload)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


@contextmanager
def running(data_dir: Path) -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare(data_dir).start()
    try:
        yield fake
    finally:
        fake.stop()


def fake_fixture(tmp_path: Path, monkeypatch: Any) -> Iterator[FakeCloudflare]:
    """Body of the `fake` fixture test modules declare: `fake = pytest.fixture(name="fake")(fake_fixture)`.

    Points worktime at the fake with the same variables wrangler reads.
    """
    data = tmp_path / "fake-cloudflare"
    data.mkdir()
    with running(data) as fake:
        monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", fake.url)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        yield fake
