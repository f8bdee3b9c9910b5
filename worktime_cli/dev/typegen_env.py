"""The `Env` interface: its members from the config, as `wrangler types` (4.86) writes them.

Bindings in wrangler's order with its type names (`KVNamespace`, `D1Database`, …), `[vars]` as
literal types (`--strict-vars`), and secret names as `string`: `secrets.required`, else the
names in `.dev.vars.example`. Names only: no secret value is ever read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from worktime_cli.errors import ConfigError
from worktime_cli.project.config import Config

ENV_INTERFACE = "Env"

# wrangler's collectCoreBindings, in its order: (config key, field with the name, TS type).
# Only the array-of-tables kinds with a plain name field; the rest are listed below.
_ARRAY_BINDINGS: tuple[tuple[str, str, str], ...] = (
    ("kv_namespaces", "binding", "KVNamespace"),
    ("r2_buckets", "binding", "R2Bucket"),
    ("d1_databases", "binding", "D1Database"),
    ("vectorize", "binding", "VectorizeIndex"),
    ("hyperdrive", "binding", "Hyperdrive"),
    ("send_email", "name", "SendEmail"),
    ("analytics_engine_datasets", "binding", "AnalyticsEngineDataset"),
    ("mtls_certificates", "binding", "Fetcher"),
    ("ratelimits", "name", "RateLimit"),
)
# Single-table bindings (`[ai] binding = "AI"`), after the arrays as in wrangler.
_TABLE_BINDINGS: tuple[tuple[str, str], ...] = (
    ("browser", "Fetcher"),
    ("ai", "Ai"),
    ("images", "ImagesBinding"),
    ("version_metadata", "WorkerVersionMetadata"),
    ("assets", "Fetcher"),
)


@dataclass(frozen=True)
class EnvMember:
    """One member of `interface Env`: its key, TypeScript type and where it comes from."""

    name: str
    type: str
    source: str  # the config key ("d1_databases", "vars", …), "secrets.required" or a file
    optional: bool = False  # per-environment mode: not defined in every environment

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "source": self.source,
            "optional": self.optional,
        }


def env_members(cfg: Config, section: Mapping[str, Any]) -> tuple[EnvMember, ...]:
    """`interface Env`'s members, in the order `wrangler types` writes them."""
    members: dict[str, EnvMember] = {}

    def add(name: Any, ts_type: str, source: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{cfg.path}: a `{source}` entry has no binding name")
        members.setdefault(name, EnvMember(name, ts_type, source))

    for key, name_field, ts_type in _ARRAY_BINDINGS:
        for entry in as_list(section.get(key)):
            if isinstance(entry, dict):
                add(entry.get(name_field), ts_type, key)
    queues = section.get("queues")
    if isinstance(queues, dict):
        for entry in as_list(queues.get("producers")):
            if isinstance(entry, dict):
                add(entry.get("binding"), "Queue", "queues.producers")
    for key, ts_type in _TABLE_BINDINGS:
        table = section.get(key)
        if isinstance(table, dict) and table.get("binding") is not None:
            add(table.get("binding"), ts_type, key)

    secrets, secrets_source = secret_names(cfg, section)
    vars_table = section.get("vars") or {}
    if not isinstance(vars_table, dict):
        raise ConfigError(f"{cfg.path}: `vars` must be a table")
    for name, value in vars_table.items():
        if name not in secrets:  # wrangler drops a var that is also a declared secret
            add(name, _literal_type(value), "vars")
    for name in secrets:
        add(name, "string", secrets_source)
    return tuple(members.values())


def secret_names(cfg: Config, section: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
    """Secret names (never values) and where they were read."""
    envs = cfg.data.get("env")
    has_config_secrets = "secrets" in cfg.data or (
        isinstance(envs, dict)
        and any(isinstance(e, dict) and "secrets" in e for e in envs.values())
    )
    if has_config_secrets:
        table = section.get("secrets") or {}
        required = table.get("required", []) if isinstance(table, dict) else None
        if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
            raise ConfigError(f"{cfg.path}: secrets.required must be a list of names")
        return tuple(dict.fromkeys(required)), "secrets.required"
    from worktime_cli.secrets import environment

    example = cfg.root / environment.DEV_VARS_EXAMPLE
    if not example.is_file():
        return (), environment.DEV_VARS_EXAMPLE
    try:
        text = example.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {example}: {exc}") from None
    keys = [entry.key for entry in environment.parse_dotenv(text, str(example))]
    return tuple(dict.fromkeys(keys)), environment.DEV_VARS_EXAMPLE


def as_list(value: Any) -> list[Any]:
    """`value` when the config holds a list there, else an empty list."""
    return value if isinstance(value, list) else []


def _literal_type(value: Any) -> str:
    """What wrangler writes with --strict-vars: `JSON.stringify(value)` as a literal type."""
    if isinstance(value, datetime | date | time):
        # TOML dates are JS Date objects in wrangler; JSON.stringify gives the ISO string.
        value = value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON.stringify(1.0) is "1"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
