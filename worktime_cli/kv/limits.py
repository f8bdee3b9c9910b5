"""Cloudflare's KV limits, checked the same way (and with the same words) locally and remotely.

miniflare enforces the same numbers; every check runs before anything is written or sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from worktime_cli.errors import LimitError
from worktime_cli.kv.records import PutItem

# Cloudflare's documented limits (miniflare enforces the same numbers).
MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL_SECONDS = 60
MAX_LIST_LIMIT = 1000
BULK_MAX_ERRORS = 12  # wrangler reports this many bad items, then "..."
# The latest instant a JavaScript Date (miniflare's clock, in milliseconds) can hold: any
# later expiration would overflow the index's INTEGER column or workerd's arithmetic.
MAX_EXPIRATION_SECONDS = 8_640_000_000_000
# Cloudflare's bulk write takes at most 100 MB per request: a bigger bulk file could never be
# sent, so reading one stops there (and `/dev/zero` costs 100 MB, not all memory).
MAX_BULK_FILE_BYTES = 100_000_000


@dataclass(frozen=True)
class Row:
    """A validated item, as the store writes it: expiration in milliseconds, metadata as text."""

    key: str
    value: bytes
    expiration_ms: int | None
    metadata: str | None
    blob_id: str = field(default="")


# --- validation ------------------------------------------------------------------------------


def validate_key(key: str) -> None:
    """Cloudflare's key rules: 1–512 UTF-8 bytes, and not `.` or `..`."""
    if key == "":
        raise LimitError("key names must not be empty")
    if key in (".", ".."):
        raise LimitError(f"illegal key name {key!r}: `.` and `..` are not allowed")
    check_text(key, "the key")
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise LimitError(f"key is {size} bytes (UTF-8); the limit is {MAX_KEY_BYTES} bytes")


def check_text(text: str, what: str) -> None:
    """Refuse text that is not valid Unicode, without echoing it (it may be a secret).

    Bytes that are not UTF-8 reach Python as lone surrogates (argv decodes with
    surrogateescape; JSON's `\\ud800` escapes decode to them too); KV stores UTF-8 only.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LimitError(
            f"{what} is not valid UTF-8 text (character {exc.start + 1} is an undecodable byte"
            " or a lone surrogate)",
            hint="pass UTF-8 text; for binary values use --path FILE or base64 in bulk files",
        ) from None


def encode_metadata(metadata: Any) -> str | None:
    """Metadata as the JSON text miniflare stores (compact, like JSON.stringify), size-checked."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise LimitError("metadata must be a JSON object")
    try:
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LimitError(f"metadata is not serialisable as JSON: {exc}") from None
    except RecursionError:
        raise LimitError("metadata is nested too deeply to serialise") from None
    check_text(text, "metadata")
    size = len(text.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise LimitError(
            f"metadata is {size} bytes serialised; the limit is {MAX_METADATA_BYTES} bytes"
        )
    return text


def resolve_expiration(
    expiration_ttl: int | None, expiration: int | None, now: float
) -> int | None:
    """The absolute expiration in seconds, as miniflare computes it (the TTL wins)."""
    now_s = math.floor(now)
    if expiration_ttl is not None:
        if isinstance(expiration_ttl, bool) or not isinstance(expiration_ttl, int):
            raise LimitError(f"TTL {expiration_ttl!r} is not an integer number of seconds")
        if expiration_ttl < MIN_TTL_SECONDS:
            raise LimitError(
                f"TTL of {expiration_ttl} seconds is below the minimum of {MIN_TTL_SECONDS} seconds"
            )
        if now_s + expiration_ttl > MAX_EXPIRATION_SECONDS:
            raise LimitError(
                f"TTL of {_shown(expiration_ttl)} seconds ends after the latest expiration"
                f" KV can store ({MAX_EXPIRATION_SECONDS} seconds since the epoch)"
            )
        return now_s + expiration_ttl
    if expiration is not None:
        if isinstance(expiration, bool) or not isinstance(expiration, int):
            raise LimitError(
                f"expiration {expiration!r} is not an integer (seconds since the epoch)"
            )
        if expiration < now_s + MIN_TTL_SECONDS:
            raise LimitError(
                f"expiration {expiration} must be at least {MIN_TTL_SECONDS} seconds in the future "
                f"(now is {now_s})"
            )
        if expiration > MAX_EXPIRATION_SECONDS:
            raise LimitError(
                f"expiration {_shown(expiration)} is after the latest KV can store"
                f" ({MAX_EXPIRATION_SECONDS} seconds since the epoch)"
            )
        return expiration
    return None


def _shown(number: int) -> str:
    """A huge number in a message: its first digits and length, never thousands of digits."""
    if number.bit_length() < 256:
        return str(number)
    return f"(a number of about {int(number.bit_length() * 0.30103) + 1} digits)"


def check_list_args(prefix: str | None, limit: int | None) -> None:
    """The limits of one `list` call, the same locally and on Cloudflare."""
    if limit is not None and not 1 <= limit <= MAX_LIST_LIMIT:
        raise LimitError(f"list limit {limit} is outside 1–{MAX_LIST_LIMIT}")
    if prefix:
        check_text(prefix, "the prefix")
    if prefix and len(prefix.encode("utf-8")) > MAX_KEY_BYTES:
        raise LimitError(f"prefix is longer than the key limit of {MAX_KEY_BYTES} bytes")


def latest_rows(items: Iterable[PutItem], now: float) -> list[Row]:
    """Every item validated; a later item with the same key wins, in the order of its write."""
    latest: dict[str, Row] = {}
    for item in items:
        row = validate_item(item, now)
        latest.pop(row.key, None)  # keep the order of the last write
        latest[row.key] = row
    return list(latest.values())


def validate_item(item: PutItem, now: float) -> Row:
    """Check one item against every limit; raises `LimitError` naming the limit broken."""
    validate_key(item.key)
    if len(item.value) > MAX_VALUE_BYTES:
        raise LimitError(
            f"value is {len(item.value)} bytes; the limit is {MAX_VALUE_BYTES} bytes (25 MiB)"
        )
    expiration = resolve_expiration(item.expiration_ttl, item.expiration, now)
    return Row(
        key=item.key,
        value=item.value,
        expiration_ms=None if expiration is None else expiration * 1000,
        metadata=encode_metadata(item.metadata),
    )
