"""`bulk put` / `bulk delete` files in wrangler's format: read, validated, every bad item named."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktime_cli import clock
from worktime_cli.errors import LimitError, WorktimeError
from worktime_cli.fsutil import read_bounded
from worktime_cli.kv.limits import (
    BULK_MAX_ERRORS,
    MAX_BULK_FILE_BYTES,
    MAX_VALUE_BYTES,
    check_text,
    validate_item,
    validate_key,
)
from worktime_cli.kv.records import PutItem
from worktime_cli.secrets.scrub import describe


@dataclass(frozen=True)
class BulkPut:
    """A parsed and validated `bulk put` file, plus wrangler-style warnings."""

    items: tuple[PutItem, ...]
    warnings: tuple[str, ...] = ()


_BULK_PUT_KEYS = frozenset({"key", "value", "expiration", "expiration_ttl", "metadata", "base64"})


def _load_json_file(path: Path) -> Any:
    # Bounded while reading: a FIFO or /dev/zero stops at the limit instead of eating memory.
    data = read_bounded(path, MAX_BULK_FILE_BYTES, "a bulk file (Cloudflare's request limit)")
    try:
        return json.loads(data)
    except RecursionError:
        raise WorktimeError(
            f"{path} is nested too deeply to read as JSON",
            hint="a bulk file is a flat array of objects; metadata must be shallow",
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorktimeError(f"{path} is not valid JSON: {exc}") from None


def read_value_file(path: Path) -> bytes:
    """A value for `key put --path`: at most 25 MiB, refused while reading (FIFOs, /dev/zero)."""
    return read_bounded(path, MAX_VALUE_BYTES, "the value (KV's limit is 25 MiB)")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> int | None:
    """A JSON number as whole seconds (wrangler passes `3600.0` through as 3600)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # type: ignore[no-any-return]  # validation reports the non-integer


def _key_shown(key: str) -> str:
    """A key for an error message; one that is not valid text is not echoed at all."""
    try:
        check_text(key, "key")
    except LimitError:
        return "a key that is not valid UTF-8"
    return f"key {key[:60]!r}"


def parse_bulk_put(path: Path, now: float | None = None) -> BulkPut:
    """Read and validate a `bulk put` file; every bad item is reported before anything is written."""
    content = _load_json_file(path)
    if not isinstance(content, list):
        raise WorktimeError(
            f"{path}: expected a JSON array of key-value objects, got {type(content).__name__}",
            hint='each item: {"key": str, "value": str, "expiration"?: int, "expiration_ttl"?: int, "metadata"?: object, "base64"?: bool}',
        )
    now = clock.timestamp() if now is None else now
    errors: list[str] = []
    warnings: list[str] = []
    items: list[PutItem] = []
    for index, raw in enumerate(content):
        problem: str | None = None
        item: PutItem | None = None
        if not (
            isinstance(raw, dict)
            and isinstance(raw.get("key"), str)
            and isinstance(raw.get("value"), str)
            and (raw.get("expiration") is None or _is_number(raw["expiration"]))
            and (raw.get("expiration_ttl") is None or _is_number(raw["expiration_ttl"]))
            and (raw.get("base64") is None or isinstance(raw["base64"], bool))
            and (raw.get("metadata") is None or isinstance(raw["metadata"], dict))
        ):
            # Its shape, never its strings: values are GitHub tokens and the like.
            problem = f"is {describe(raw)}"
        else:
            unexpected = sorted(set(raw) - _BULK_PUT_KEYS)
            if unexpected and len(warnings) <= BULK_MAX_ERRORS:
                warnings.append(
                    "..."
                    if len(warnings) == BULK_MAX_ERRORS
                    else f"the item at index {index} contains unexpected properties: {json.dumps(unexpected)}"
                )
            try:
                if not raw.get("base64"):
                    check_text(raw["value"], "the value")
                value = (
                    base64.b64decode(raw["value"], validate=True)
                    if raw.get("base64")
                    else raw["value"].encode("utf-8")
                )
                item = PutItem(
                    key=raw["key"],
                    value=value,
                    expiration_ttl=_whole(raw.get("expiration_ttl")),
                    expiration=_whole(raw.get("expiration")),
                    metadata=raw.get("metadata"),
                )
                validate_item(item, now)
            except binascii.Error:
                problem = f"({_key_shown(raw['key'])}): value is not valid base64"
            except LimitError as exc:
                problem = f"({_key_shown(raw['key'])}): {exc.message}"
        if problem is not None:
            if len(errors) < BULK_MAX_ERRORS:
                errors.append(f"the item at index {index} {problem}")
            elif len(errors) == BULK_MAX_ERRORS:
                errors.append("...")
            continue
        assert item is not None
        items.append(item)
    if errors:
        bad = sum(1 for e in errors if e != "...")
        more = " (first 12 shown)" if errors[-1] == "..." else ""
        raise LimitError(
            f"{path}: invalid item(s){more}, nothing written:\n  " + "\n  ".join(errors),
            hint=f"fix the {bad if not more else 'listed'} item(s) above; each item needs a string key and value",
        )
    return BulkPut(items=tuple(items), warnings=tuple(warnings))


def parse_bulk_delete(path: Path) -> list[str]:
    """Read a `bulk delete` file: a JSON array of key strings or `{"name": key}` objects."""
    content = _load_json_file(path)
    if not isinstance(content, list):
        raise WorktimeError(
            f'{path}: expected a JSON array of key names or {{"name": key}} objects, '
            f"got {type(content).__name__}"
        )
    errors: list[str] = []
    keys: list[str] = []
    for index, item in enumerate(content):
        key = item.get("name") if isinstance(item, dict) else item
        problem = None
        if not isinstance(key, str):
            problem = f"is {describe(item)}"
        else:
            try:
                validate_key(key)
            except LimitError as exc:
                problem = f"({_key_shown(key)}): {exc.message}"
        if problem is not None:
            if len(errors) < BULK_MAX_ERRORS:
                errors.append(f"the item at index {index} {problem}")
            elif len(errors) == BULK_MAX_ERRORS:
                errors.append("...")
            continue
        assert isinstance(key, str)
        keys.append(key)
    if errors:
        raise LimitError(
            f"{path}: invalid item(s), nothing deleted:\n  " + "\n  ".join(errors),
            hint='each item must be a key string or an object like {"name": "key"}',
        )
    return keys
