"""The shapes keys and values travel in, the same for the local store and Cloudflare's API.

`PutItem` is what a caller asks to write; the rest are what reads and writes return (frozen,
with `to_json()`), so a local and a remote namespace answer with identical results.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Entry:
    """A live value: raw bytes, expiration in seconds since the epoch, metadata as parsed JSON."""

    key: str
    value: bytes
    expiration: int | None = None
    metadata: Any = None

    def to_json(self) -> dict[str, Any]:
        """The value as text when it is UTF-8, else base64 with `"base64": true` (bulk's format)."""
        try:
            text, is_base64 = self.value.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(self.value).decode("ascii"), True
        return {
            "key": self.key,
            "value": text,
            "base64": is_base64,
            "expiration": self.expiration,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class KeyInfo:
    """One key as `list` reports it (the API's shape: expiration in seconds)."""

    name: str
    expiration: int | None = None
    metadata: Any = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.expiration is not None:
            data["expiration"] = self.expiration
        if self.metadata is not None:
            data["metadata"] = self.metadata
        return data


@dataclass(frozen=True)
class Page:
    """One page of `list`; `cursor` is set when more keys follow."""

    keys: tuple[KeyInfo, ...]
    cursor: str | None = None

    @property
    def list_complete(self) -> bool:
        return self.cursor is None

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": [k.to_json() for k in self.keys],
            "list_complete": self.list_complete,
            "cursor": self.cursor,
        }


@dataclass(frozen=True)
class PutItem:
    """One value to write. `expiration_ttl` wins over `expiration` when both are given."""

    key: str
    value: bytes
    expiration_ttl: int | None = None
    expiration: int | None = None
    metadata: Any = None


@dataclass(frozen=True)
class PutResult:
    """One value written: its size and absolute expiration (seconds since the epoch)."""

    key: str
    size: int
    expiration: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "expiration": self.expiration}


@dataclass(frozen=True)
class DeleteResult:
    """One key deleted; `existed` says whether a live value was there."""

    key: str
    existed: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "deleted": self.existed}


@dataclass(frozen=True)
class BulkResult:
    """`bulk put` (`written`) or `bulk delete` (`deleted`): how many, of how many requested."""

    action: Literal["written", "deleted"]
    count: int
    requested: int

    def to_json(self) -> dict[str, Any]:
        return {self.action: self.count, "requested": self.requested}
