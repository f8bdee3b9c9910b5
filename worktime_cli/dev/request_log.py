"""The request log: one line per request, in wrangler's format, safe for a terminal.

`GET /health 200 OK (1ms)`: the method and path with every control character percent-encoded,
so a request can neither forge log lines nor drive the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus

RequestLog = Callable[[str], None]


# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi controls that
# reorder or break a terminal line.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character percent-encoded (`\\n` → `%0A`, ESC → `%1B`)."""
    return _UNPRINTABLE.sub(
        lambda match: "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8")), text
    )


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def request_line(method: str, path: str, status: int, elapsed_ms: int) -> str:
    """The log line for one request, e.g. `GET /health 200 OK (1ms)`."""
    phrase = _PHRASES.get(status, "")
    return f"{printable(method)} {printable(path)} {status} {phrase} ({elapsed_ms}ms)"
