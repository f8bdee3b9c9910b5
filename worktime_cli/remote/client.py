"""The HTTP client for Cloudflare's API: auth, the envelope, errors, retries, pagination.

HTTP only: which token and account to use is `remote.credentials`' business.

One `Client` per invocation, shared by every request (keep-alive, and HTTP/2 when httpx's `h2`
extra is installed): no request pays a second connection set-up. It is safe to use from
several threads (`in_flight` runs bounded work that way), and a 429 on any request pauses
every request of the client until the Retry-After has passed: Cloudflare's rate limit is per
user, so hammering it from other threads would only extend the block.

Every response is Cloudflare's envelope `{success, errors, messages, result, result_info}`.
A failure becomes one `RemoteError` line, `code: message`. The API token is held only by
`_BearerAuth` and never formatted into a message: transport errors are re-raised as our own
error with `from None`, and every message is scrubbed of the token as a last defence.
"""

from __future__ import annotations

import email.utils
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from worktime_cli.errors import RemoteError

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
BASE_URL_ENV = "CLOUDFLARE_API_BASE_URL"

# Connect fast, but allow D1 queries/imports the time Cloudflare itself allows them.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MAX_RETRIES = 4
MAX_RETRY_AFTER = 60.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Requests one command keeps in flight: enough to hide the round trip of a few large requests,
# few enough to stay far below Cloudflare's 200 requests/second per IP and 1,200 per 5 minutes.
IN_FLIGHT = 4

T = TypeVar("T")
R = TypeVar("R")

# Hints for the codes a user can act on; every other code is shown as Cloudflare sends it.
_HINTS = {
    10000: "check the API token (`worktime whoami`) and that it has the permissions this command needs",
    9106: "the API token is missing or malformed; run `worktime login` or set CLOUDFLARE_API_TOKEN",
    9109: "the API token is invalid or expired; run `worktime login` again",
    7502: "choose another name, or use the existing database (`worktime d1 list --remote`)",
    7404: "check the name with `worktime d1 list --remote`, and database_id in wrangler.toml",
    10009: "list the keys with `worktime kv key list --remote`",
    10013: "list the namespaces with `worktime kv namespace list --remote`",
    10014: "choose another title, or use the existing namespace (`worktime kv namespace list --remote`)",
}


@dataclass(frozen=True)
class Envelope:
    """A successful answer: `result` and, for lists, `result_info`."""

    result: Any
    result_info: dict[str, Any] = field(default_factory=dict)
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Account:
    id: str
    name: str


class _BearerAuth(httpx.Auth):
    """Adds the token per request, so the token lives in one place and no repr shows it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "_BearerAuth(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


class Client:
    """One API session. Use as a context manager; `account_id` is resolved lazily."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        account_id: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token.strip():
            raise RemoteError("the Cloudflare API token is empty", hint="run `worktime login`")
        self._token = token.strip()
        self._auth = _BearerAuth(self._token)
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self._account_id = account_id
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        # The shared back-off: no request starts before this (time.monotonic) after a 429.
        self._resume_at = 0.0
        self._gate = threading.Lock()
        self.http = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": "worktime-cli"},
            follow_redirects=False,
            # HTTP/2 only when the optional `h2` is there (httpx refuses http2=True without
            # it); over HTTP/1.1 the pool keeps one connection per request in flight alive.
            http2=_h2_installed(),
            limits=httpx.Limits(
                max_connections=4 * IN_FLIGHT, max_keepalive_connections=IN_FLIGHT * 2
            ),
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- accounts ---------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        """The account: wrangler.toml, else CLOUDFLARE_ACCOUNT_ID, else the only one."""
        if self._account_id is None:
            self._account_id = self._only_account()
        return self._account_id

    def accounts(self) -> list[Account]:
        return [
            Account(id=str(item.get("id", "")), name=str(item.get("name", "")))
            for item in self.paginate("/accounts", per_page=50)
        ]

    def _only_account(self) -> str:
        accounts = self.accounts()
        if len(accounts) == 1:
            return accounts[0].id
        if not accounts:
            raise RemoteError(
                "this API token has access to no account",
                hint="give the token account permissions, or set CLOUDFLARE_ACCOUNT_ID",
            )
        listed = ", ".join(f"{a.name} ({a.id})" for a in accounts)
        raise RemoteError(
            f"this API token can use several accounts: {listed}",
            hint="set account_id in wrangler.toml or CLOUDFLARE_ACCOUNT_ID",
        )

    def account_path(self, path: str) -> str:
        return f"/accounts/{self.account_id}{path}"

    # --- requests ---------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Envelope:
        """One API call; the envelope's result, or a `RemoteError`."""
        response = self.send(
            method,
            path,
            json=json,
            params=params,
            content=content,
            files=files,
            headers=headers,
            idempotent=idempotent,
        )
        return self._envelope(response)

    def call_raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> bytes:
        """A call whose success is a raw body (KV values); errors are still enveloped."""
        response = self.send(method, path, params=params)
        if response.is_success:
            return response.content
        self._envelope(response)  # raises with the envelope's code and message
        raise self._unexpected(response)

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """Send with timeouts and retries; `path` is under the base URL unless absolute.

        Retried: 429 always (the request was refused before it ran; Retry-After honoured),
        5xx and read timeouts only when the call is idempotent, and connection failures
        (nothing was sent). A non-idempotent write is never repeated blindly.
        """
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        attempt = 0
        waited_until = 0.0
        while True:
            waited_until = self._wait_turn(waited_until)
            try:
                response = self.http.request(
                    method,
                    url,
                    json=json,
                    params={k: v for k, v in (params or {}).items() if v is not None} or None,
                    content=content,
                    files=files,
                    headers=headers,
                    auth=self._auth if authenticated else None,
                )
            except httpx.TimeoutException as exc:
                retry = isinstance(exc, httpx.ConnectTimeout) or idempotent
                if retry and attempt < self.max_retries:
                    attempt += 1
                    self.sleep(self._backoff(attempt))
                    continue
                raise RemoteError(
                    self.scrub(f"{method} {_show(url)} timed out ({type(exc).__name__})"),
                    hint="Cloudflare did not answer in time; try again"
                    + ("" if idempotent else ", after checking whether the change was made"),
                ) from None
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.ConnectError) and attempt < self.max_retries:
                    attempt += 1
                    self.sleep(self._backoff(attempt))
                    continue
                raise RemoteError(
                    self.scrub(f"cannot reach {_host(url)}: {type(exc).__name__}: {exc}"),
                    hint=f"check the network, or {BASE_URL_ENV} if you set it",
                ) from None
            status = response.status_code
            retryable = status == 429 or (status >= 500 and idempotent)
            if retryable and attempt < self.max_retries:
                attempt += 1
                delay = self._retry_delay(response, attempt)
                if status == 429:
                    waited_until = self._pause_all(delay)
                else:
                    self.sleep(delay)
                continue
            return response

    def _pause_all(self, delay: float) -> float:
        """After a 429: hold back every request of this client for `delay`; sleep it here."""
        now = time.monotonic()
        with self._gate:
            self._resume_at = max(self._resume_at, now + delay)
            resume_at = self._resume_at
        self.sleep(resume_at - now)
        return resume_at

    def _wait_turn(self, waited_until: float) -> float:
        """Sleep while another request's 429 holds the client back (beyond what we waited)."""
        with self._gate:
            resume_at = self._resume_at
        wait = resume_at - max(time.monotonic(), waited_until)
        if wait > 0:
            self.sleep(wait)
            return resume_at
        return waited_until

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff * 2 ** (attempt - 1), MAX_RETRY_AFTER))

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("retry-after")
        if header is not None:
            header = header.strip()
            if header.isdigit():
                return min(float(header), MAX_RETRY_AFTER)
            try:
                when = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                pass
            else:
                return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER))
        return self._backoff(attempt)

    def _envelope(self, response: httpx.Response) -> Envelope:
        content_type = response.headers.get("content-type", "")
        if response.headers.get("cf-mitigated") == "challenge" or "text/html" in content_type:
            raise RemoteError(
                f"Cloudflare answered with an HTML page (HTTP {response.status_code}"
                + (", a challenge" if response.headers.get("cf-mitigated") else "")
                + ") instead of API JSON",
                hint="a firewall or bot check is in the way: retry later or from another network,"
                f" and check {BASE_URL_ENV} if you set it",
                code=response.status_code,
            )
        try:
            body = response.json()
        except ValueError:
            raise self._unexpected(response) from None
        if not isinstance(body, dict) or "success" not in body:
            raise self._unexpected(response)
        if not body.get("success") or not response.is_success:
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            if not errors:
                raise RemoteError(
                    f"Cloudflare API error (HTTP {response.status_code})", code=response.status_code
                )
            first = errors[0]
            code = first.get("code")
            text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
            raise RemoteError(
                self.scrub(text),
                hint=_HINTS.get(code) if isinstance(code, int) else None,
                code=code if isinstance(code, int) else None,
            )
        messages = tuple(
            str(m.get("message")) if isinstance(m, dict) else str(m)
            for m in body.get("messages") or []
        )
        info = body.get("result_info")
        return Envelope(
            result=body.get("result"),
            result_info=info if isinstance(info, dict) else {},
            messages=messages,
        )

    def _unexpected(self, response: httpx.Response) -> RemoteError:
        content_type = response.headers.get("content-type", "no content type")
        return RemoteError(
            f"unexpected answer from Cloudflare: HTTP {response.status_code} ({content_type})",
            code=response.status_code,
        )

    def scrub(self, text: str) -> str:
        """`text` with the token replaced: the last line of defence for messages."""
        return text.replace(self._token, "***") if self._token else text

    # --- pagination -------------------------------------------------------------------------

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every item of a page-based list, following `page` until a short or last page."""
        page = 1
        while True:
            envelope = self.call(
                "GET", path, params={**(params or {}), "page": page, "per_page": per_page}
            )
            items = envelope.result or []
            if not isinstance(items, list):
                raise RemoteError(f"unexpected list answer from {_show(path)}")
            yield from items
            info = envelope.result_info
            total_pages = info.get("total_pages")
            if isinstance(total_pages, int) and page >= total_pages:
                return
            if not items or len(items) < int(info.get("per_page") or per_page):
                return
            page += 1

    def cursor(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a cursor list (KV keys): done when the returned cursor is empty."""
        cursor: str | None = None
        while True:
            envelope = self.call("GET", path, params={**(params or {}), "cursor": cursor})
            items = envelope.result or []
            if not isinstance(items, list):
                raise RemoteError(f"unexpected list answer from {_show(path)}")
            yield from items
            cursor = envelope.result_info.get("cursor") or None
            if not cursor:
                return


def in_flight(
    work: Callable[[T], R], items: Sequence[T], *, limit: int = IN_FLIGHT
) -> Iterator[tuple[T, R | RemoteError]]:
    """Run `work` on every item with at most `limit` at once; yield (item, result) as each ends.

    A `RemoteError` is yielded as the item's result (the caller reports it and the others go
    on); any other exception is a bug and propagates. On the way out (done, an error, Ctrl+C)
    nothing new starts; requests already sent finish within the client's timeout.
    """

    def attempt(item: T) -> R | RemoteError:
        try:
            return work(item)
        except RemoteError as exc:
            return exc

    if limit <= 1 or len(items) <= 1:
        for item in items:  # no thread for one request: the common case costs nothing extra
            yield item, attempt(item)
        return
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    pending = iter(items)
    running: dict[Future[R | RemoteError], T] = {}
    pool = ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="worktime-api")
    try:
        for item in pending:
            running[pool.submit(attempt, item)] = item
            if len(running) >= limit:
                break
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                yield item, future.result()
                for following in pending:  # keep `limit` in flight
                    running[pool.submit(attempt, following)] = following
                    break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _h2_installed() -> bool:
    return importlib.util.find_spec("h2") is not None


def _host(url: str) -> str:
    return httpx.URL(url).host or url


def _show(url: str) -> str:
    # Without the query string: presigned upload URLs carry credentials there.
    return url.split("?", 1)[0]


# --- building a client from the environment ---------------------------------------------------


def from_environment(cfg: Config | None = None, **options: Any) -> Client:
    """The client every `--remote` command uses (credentials as `remote.credentials` finds them)."""
    from worktime_cli.remote.credentials import resolve_account_id, resolve_token

    token, _source = resolve_token()
    return Client(token, account_id=resolve_account_id(cfg), **options)


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
