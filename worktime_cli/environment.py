"""The local environment a Worker sees: one function, `resolve`, used by dev, doctor and secrets.

Precedence, lowest to highest, mirroring `wrangler dev`:

1. `[vars]` in wrangler.toml (or `[env.<env>.vars]`; non-string values as JSON text);
2. secrets in the OS keyring (`worktime secret put`);
3. `.dev.vars`, or `.dev.vars.<env>` with `--env` (one file, falling back to `.dev.vars`, never
   merged, as wrangler); if there is none, `.env`, `.env.local`, `.env.<env>`,
   `.env.<env>.local` merged in that order;
4. `--var KEY:VALUE` from the command line.

Every name remembers which layer it came from, so `secret list` and `doctor` can say where a
value comes from without showing it.

Dotenv files are parsed with python-dotenv's own parser and no interpolation: a `${` inside a
secret is part of the secret (python-dotenv issue #422). python-dotenv only logs a warning for
a line it cannot parse and drops it; a dropped secret would surface much later as a confusing
401, so here a malformed line is an error naming `file:line`.

Nothing in this module imports keyring unless the keyring layer is asked for.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, WorktimeError

if TYPE_CHECKING:
    from worktime_cli.config import Config

DEV_VARS = ".dev.vars"
DEV_VARS_EXAMPLE = ".dev.vars.example"
SOURCE_VARS = "vars"
SOURCE_KEYRING = "keyring"
SOURCE_CLI = "--var"
# wrangler's switch for the `.env` fallback; "false" turns it off.
LOAD_DOT_ENV_VARIABLE = "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV"


@dataclass(frozen=True)
class Environment:
    """The resolved names. `values` is kept out of repr so a stray print never leaks it."""

    values: dict[str, str] = field(repr=False)
    sources: dict[str, str]  # name -> the layer that won: "vars", "keyring", ".dev.vars", …
    required: tuple[str, ...]
    missing: tuple[str, ...]  # required names that resolve from nowhere
    keyring_error: str | None = None  # the keyring could not be read; other layers still apply
    files: tuple[Path, ...] = ()  # the dotenv files that were read, in precedence order
    layers: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # every layer defining a name, low → high
    required_from: str | None = (
        None  # "wrangler.toml" or ".dev.vars.example" (None: nothing required)
    )


@dataclass(frozen=True)
class DotenvEntry:
    key: str
    value: str | None  # None for a bare `KEY` line
    line: int


def resolve(
    cfg: Config,
    *,
    env: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    keyring: bool = True,
) -> Environment:
    """Compute the local environment for `cfg` (see the module docstring for the layers)."""
    layers: list[tuple[str, Mapping[str, str]]] = [(SOURCE_VARS, _config_vars(cfg, env))]
    keyring_error = None
    if keyring:
        from worktime_cli import secrets

        try:
            layers.append((SOURCE_KEYRING, secrets.read_all(cfg)))
        except WorktimeError as exc:
            keyring_error = exc.message
    files = dotenv_files(cfg.root, env)
    for path in files:
        layers.append((path.name, read_dotenv(path)))
    layers.append((SOURCE_CLI, dict(cli_vars or {})))

    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    defined: dict[str, list[str]] = {}
    for source, mapping in layers:
        for name, value in mapping.items():
            values[name] = value
            sources[name] = source
            defined.setdefault(name, []).append(source)
    required, required_from = required_names(cfg, env)
    return Environment(
        values=values,
        sources=sources,
        required=required,
        missing=tuple(name for name in required if name not in values),
        keyring_error=keyring_error,
        files=tuple(files),
        layers={name: tuple(found) for name, found in defined.items()},
        required_from=required_from,
    )


def dotenv_files(root: Path, env: str | None = None) -> list[Path]:
    """The dotenv files wrangler would read for `env`, lowest precedence first."""
    if env is not None and (root / f"{DEV_VARS}.{env}").is_file():
        return [root / f"{DEV_VARS}.{env}"]
    if (root / DEV_VARS).is_file():
        return [root / DEV_VARS]
    if os.environ.get(LOAD_DOT_ENV_VARIABLE, "").lower() == "false":
        return []
    names = [".env", ".env.local"]
    if env is not None:
        names += [f".env.{env}", f".env.{env}.local"]
    return [root / name for name in names if (root / name).is_file()]


def read_dotenv(path: Path) -> dict[str, str]:
    """A dotenv file's names and values; a malformed line or a bare `KEY` is an error."""
    result: dict[str, str] = {}
    for entry in parse_dotenv(_read(path), str(path)):
        if entry.value is None:
            # Not even the "name": a bare line is as likely a pasted value as a name.
            raise ConfigError(
                f"{path}:{entry.line}: a line without '='",
                hint="lines look like NAME=value",
            )
        result[entry.key] = entry.value
    return result


def parse_dotenv(text: str, source: str) -> list[DotenvEntry]:
    """Parse dotenv text exactly as `dotenv_values(interpolate=False)` would, but strictly.

    The error names the line, never its content: the content is probably a secret.
    """
    from dotenv.parser import parse_stream

    entries: list[DotenvEntry] = []
    for binding in parse_stream(io.StringIO(text)):
        raw = binding.original.string
        # parse_stream attaches blank lines to the binding that follows them.
        line = binding.original.line + raw[: len(raw) - len(raw.lstrip())].count("\n")
        if binding.error:
            raise ConfigError(
                f"{source}:{line}: cannot parse this line",
                hint="lines look like NAME=value; quote a value with spaces or # in it",
            )
        if binding.key is not None:
            entries.append(DotenvEntry(binding.key, binding.value, line))
    return entries


def required_names(cfg: Config, env: str | None = None) -> tuple[tuple[str, ...], str | None]:
    """`[secrets] required` from wrangler.toml, else the keys of `.dev.vars.example`."""
    section = _section(cfg, env)
    secrets = section.get("secrets")
    if secrets is not None:
        required = secrets.get("required") if isinstance(secrets, dict) else None
        if required is not None:
            if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
                raise ConfigError(f"{cfg.path}: secrets.required must be a list of names")
            return tuple(dict.fromkeys(required)), cfg.path.name
    example = cfg.root / DEV_VARS_EXAMPLE
    if example.is_file():
        keys = [entry.key for entry in parse_dotenv(_read(example), str(example))]
        return tuple(dict.fromkeys(keys)), DEV_VARS_EXAMPLE
    return (), None


def parse_cli_vars(items: Iterable[str]) -> dict[str, str]:
    """`--var KEY:VALUE` items into a mapping (split at the first `:`, as wrangler)."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep or not key:
            # Only a name-like prefix is shown: the rest may be a secret typed as KEY=VALUE.
            shown = re.match(r"[A-Za-z0-9_]*", key)
            name = shown.group(0) if shown else ""
            raise WorktimeError(
                f"--var {name}: expected KEY:VALUE" if name else "--var: expected KEY:VALUE",
                hint="for example --var API_HOST:localhost",
            )
        result[key] = value
    return result


def _section(cfg: Config, env: str | None) -> dict[str, Any]:
    # vars and secrets are not inherited by environments in wrangler: with `--env staging`
    # and an `[env.staging]` table, only that table counts. Without such a table we fall back
    # to the top level, because a local-only `.dev.vars.staging` needs no wrangler.toml entry.
    if env is not None:
        envs = cfg.data.get("env")
        if isinstance(envs, dict) and isinstance(envs.get(env), dict):
            return envs[env]  # type: ignore[no-any-return]
    return cfg.data


def _config_vars(cfg: Config, env: str | None) -> dict[str, str]:
    raw = _section(cfg, env).get("vars", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg.path}: `vars` must be a table")
    return {
        name: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for name, value in raw.items()
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
