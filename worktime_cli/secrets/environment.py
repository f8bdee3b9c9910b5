"""The local environment a Worker sees: one function, `resolve`, used by dev, doctor, run and secrets.

Precedence, lowest to highest, mirroring `wrangler dev`:

1. `[vars]` in wrangler.toml (or `[env.<env>.vars]`; non-string values as JSON text);
2. secrets in the OS keyring (`worktime secret put`);
3. `.dev.vars`, or `.dev.vars.<env>` with `--env` (one file, falling back to `.dev.vars`, never
   merged, as wrangler); if there is none, `.env`, `.env.local`, `.env.<env>`,
   `.env.<env>.local` merged in that order (discovery and parsing: `worktime_cli.project.devvars`);
4. `--var KEY:VALUE` from the command line.

Every name remembers which layer it came from, so `secret list` and `doctor` can say where a
value comes from without showing it.

Nothing in this module imports keyring unless the keyring layer is asked for. It reads the
keyring through `keyring_projects` and `keyring_store` (never through `secrets`, which builds
on this module).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, UsageError, WorktimeError
from worktime_cli.project.devvars import (
    CANNOT_CARRY,
    DEV_VARS,
    DEV_VARS_EXAMPLE,
    LOAD_DOT_ENV_VARIABLE,
    DotenvEntry,
    dotenv_files,
    env_files,
    environment_problem,
    example_keys,
    parse_dotenv,
    read_dotenv,
    validate_env,
)

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

# Re-exported: dev, doctor, run and worker read these names from here.
__all__ = [
    "DEV_VARS",
    "DEV_VARS_EXAMPLE",
    "LOAD_DOT_ENV_VARIABLE",
    "SOURCE_CLI",
    "SOURCE_KEYRING",
    "SOURCE_VARS",
    "DotenvEntry",
    "Environment",
    "dotenv_files",
    "environment_problem",
    "parse_cli_vars",
    "parse_dotenv",
    "read_dotenv",
    "required_names",
    "resolve",
]

SOURCE_VARS = "vars"
SOURCE_KEYRING = "keyring"
SOURCE_CLI = "--var"


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
    warnings: tuple[str, ...] = ()  # e.g. an --env that nothing defines


def resolve(
    cfg: Config,
    *,
    env: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
    keyring: bool = True,
) -> Environment:
    """Compute the local environment for `cfg` (see the module docstring for the layers).

    `env` selects `[env.<env>]` and the `.dev.vars.<env>` / `.env.<env>` files (default: the
    env `cfg` was loaded for); the keyring layer is `cfg`'s service, so load `cfg` with the
    same env to get that env's secrets.
    """
    env = validate_env(cfg.env if env is None else env)
    layers: list[tuple[str, Mapping[str, str]]] = [(SOURCE_VARS, _config_vars(cfg, env))]
    keyring_error = None
    notices: tuple[str, ...] = ()
    if keyring:
        from worktime_cli.secrets import keyring_projects, keyring_store

        try:
            layers.append((SOURCE_KEYRING, keyring_projects.read_all(cfg)))
        except WorktimeError as exc:
            keyring_error = exc.message
        # An unencrypted backend the user named: said once, by whoever shows these warnings.
        notices = keyring_store.take_notices()
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
        warnings=env_warnings(cfg, env) + notices,
    )


def env_warnings(cfg: Config, env: str | None) -> tuple[str, ...]:
    """A warning when `--env NAME` names an environment nothing defines (likely a typo).

    wrangler itself only warns (and uses the top level) when the config defines no
    environment at all; with neither `[env.NAME]` nor a `.dev.vars.NAME` / `.env.NAME` file,
    every layer silently falls back to the defaults, which is worth saying.
    """
    if env is None or _env_table(cfg, env) is not None or env_files(cfg.root, env):
        return ()
    return (
        f"no environment {env!r}: {cfg.path.name} has no [env.{env}] and there is no "
        f"{DEV_VARS}.{env} or .env.{env} file; using the top-level settings",
    )


def required_names(cfg: Config, env: str | None = None) -> tuple[tuple[str, ...], str | None]:
    """`[secrets] required` from wrangler.toml, else the keys of `.dev.vars.example`."""
    section = _section(cfg, cfg.env if env is None else env)
    secrets = section.get("secrets")
    if secrets is not None:
        required = secrets.get("required") if isinstance(secrets, dict) else None
        if required is not None:
            if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
                raise ConfigError(f"{cfg.path}: secrets.required must be a list of names")
            return tuple(dict.fromkeys(required)), cfg.path.name
    keys = example_keys(cfg.root)
    if keys is not None:
        return keys, DEV_VARS_EXAMPLE
    return (), None


def parse_cli_vars(items: Iterable[str]) -> dict[str, str]:
    """`--var KEY:VALUE` items into a mapping (split at the first `:`, as wrangler).

    A malformed item is never echoed, not even a part of it: `--var s3cr3t` is a value typed
    without its name, and what looks like `NAME=` may be a base64 value's padding. With
    several `--var`s, the message says which one by position.
    """
    given = list(items)
    result: dict[str, str] = {}
    for position, item in enumerate(given, start=1):
        key, sep, value = item.partition(":")
        which = f" #{position}" if len(given) > 1 else ""
        if not sep or not key:
            hint = "for example --var API_HOST:localhost (the value given is not shown)"
            if not sep and "=" in item:
                hint = "separate the name and value with ':', not '=': " + hint
            raise UsageError(f"--var{which}: expected KEY:VALUE", hint=hint)
        if _has_surrogate(item):
            # Bytes that were not UTF-8 (Python keeps them as lone surrogates): not text a
            # Worker can hold. Which bytes is not said: they are part of a value.
            raise UsageError(f"--var{which}: not UTF-8 text (the value given is not shown)")
        problem = environment_problem(key, value)
        if problem is not None and problem.startswith("the value"):
            # The name is a valid one here, and naming it is how the user finds the item.
            raise UsageError(f"--var {key}: {problem}{CANNOT_CARRY}")
        if problem is not None:
            # `--var A=B:v` splits at the first ':', as wrangler does: the name is "A=B".
            raise UsageError(
                f"--var{which}: {problem}{CANNOT_CARRY} "
                "(the name ends at the first ':'; the item is not shown)",
                hint="--var takes KEY:VALUE, split at the first ':'; "
                "for example --var API_HOST:localhost",
            )
        result[key] = value
    return result


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _env_table(cfg: Config, env: str) -> dict[str, Any] | None:
    envs = cfg.data.get("env")
    if isinstance(envs, dict) and isinstance(envs.get(env), dict):
        return envs[env]  # type: ignore[no-any-return]
    return None


def _section(cfg: Config, env: str | None) -> dict[str, Any]:
    # vars and secrets are not inherited by environments in wrangler: with `--env staging`
    # and an `[env.staging]` table, only that table counts. Without such a table we fall back
    # to the top level, because a local-only `.dev.vars.staging` needs no wrangler.toml entry.
    # A config loaded for this env has already made that choice (`section`).
    if env == cfg.env:
        return cfg.section if env is not None else cfg.data
    if env is not None:
        table = _env_table(cfg, env)
        if table is not None:
            return table
    return cfg.data


def _config_vars(cfg: Config, env: str | None) -> dict[str, str]:
    raw = _section(cfg, env).get("vars", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg.path}: `vars` must be a table")
    return {
        name: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for name, value in raw.items()
    }
