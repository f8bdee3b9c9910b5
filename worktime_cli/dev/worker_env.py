"""What reaches a child process: the environment for the real Worker, or for any command.

`worktime dev --worker` runs the project's own wrangler (`wrangler dev`) and `worktime run --
CMD` runs anything else, both with the environment `environment.resolve` computes
(`[vars]` < keyring < `.dev.vars` < `--var`). Values travel **only in the child's process
environment**: never in argv (which every user of the machine can read with `ps`), never in a
file on disk.

How wrangler 4 picks up values (`getVarsForDev`, `src/dev/dev-vars.ts`, read in its bundled
cli.js 4.86):

- without `--env-file`, a `.dev.vars` (or `.dev.vars.<env>`) file wins and *nothing else* is
  read, the process environment included; so worktime always passes `--env-file` naming a
  path where no file can exist (`worker.NO_DOTENV_FILE`): wrangler then skips `.dev.vars` and the
  `.env` files (worktime has already read them, in its own precedence) and reads the values
  from its process environment. wrangler announces every dotenv file it reads ("Using secrets
  defined in …"; `/dev/null` reads as an empty file and was announced as one), while one it
  cannot read gets only a debug-level line (its global `--env-file` middleware reads the
  same path, silently). It is spelled `--envFile`, which wrangler's yargs reads as the same
  option: node (20 and 24) takes `--env-file` from anywhere in its argv, even after the
  script's name, and exits 9 when that file does not exist;
- with `[secrets] required` in the config, wrangler always includes the process environment
  and keeps only the required names: PATH and HOME never become Worker bindings;
- without it, the process environment is read only when `CLOUDFLARE_INCLUDE_PROCESS_ENV=true`,
  and then *every* variable becomes a binding; so the child environment holds only the
  project's names plus the few that node needs (`RUNTIME_NAMES`), and `WorkerEnvironment.exposed`
  lists the latter so `dev` can say so.

`[vars]` values are left to wrangler, which reads them from the config itself (a JSON var keeps
its type); only a name that the keyring, a dotenv file or `--var` set goes in the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError

if TYPE_CHECKING:
    from worktime_cli.secrets.environment import Environment

INCLUDE_PROCESS_ENV = "CLOUDFLARE_INCLUDE_PROCESS_ENV"
PROCESS_ENV = "process env"

# What node, wrangler and workerd need to start, copied from our own environment. Nothing
# else of the user's shell reaches wrangler: without `[secrets] required` every one of these
# would become a binding of the Worker (see the module docstring), so the list stays short.
# No CLOUDFLARE_* name: CLOUDFLARE_API_TOKEN is a credential and local dev does not need it.
RUNTIME_NAMES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "TMP",
    "TEMP",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "TZ",
    "CI",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    # Windows: node cannot start without these.
    "SYSTEMROOT",
    "SystemRoot",
    "COMSPEC",
    "PATHEXT",
    "WINDIR",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
)
# wrangler's and miniflare's own switches (metrics, banner, log level, registry folder…).
RUNTIME_PREFIXES = ("WRANGLER_", "MINIFLARE_")


# --- what reaches the Worker ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerEnvironment:
    """The child environment for `wrangler dev`. `variables` stays out of repr: it holds values."""

    variables: dict[str, str] = field(repr=False)
    passed: tuple[str, ...]  # the project's names placed in it, for the Worker
    ignored: tuple[tuple[str, str], ...]  # (name, source) wrangler would drop: not required
    exposed: tuple[str, ...]  # runtime names the Worker also sees (no `[secrets] required`)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": list(self.passed),
            "ignored": [{"name": n, "source": s} for n, s in self.ignored],
            "exposed": list(self.exposed),
        }


def declares_secrets(resolved: Environment) -> bool:
    """Whether the config has `[secrets] required` (wrangler then keeps only those names)."""
    from worktime_cli.secrets.environment import DEV_VARS_EXAMPLE

    return resolved.required_from not in (None, DEV_VARS_EXAMPLE)


def undeclared(resolved: Environment) -> tuple[tuple[str, str], ...]:
    """Names set in a dotenv file or the keyring that `[secrets] required` does not list.

    wrangler drops them: a plain `wrangler dev` never hands them to the Worker, and neither
    does `dev --worker`. Empty when the config declares no secrets (wrangler then keeps all).
    """
    from worktime_cli.secrets.environment import SOURCE_CLI, SOURCE_VARS

    if not declares_secrets(resolved):
        return ()
    required = set(resolved.required)
    found = []
    for name, layers in resolved.layers.items():
        # A --var reaches the Worker anyway: it goes on as wrangler's own --var.
        if name in required or SOURCE_CLI in layers:
            continue
        sources = [s for s in layers if s not in (SOURCE_VARS, SOURCE_CLI)]
        if sources:
            found.append((name, sources[-1]))
    return tuple(sorted(found))


def runtime_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The variables of `base` that node and wrangler need to run (see `RUNTIME_NAMES`)."""
    return {
        name: value
        for name, value in base.items()
        if name in RUNTIME_NAMES or name.startswith(RUNTIME_PREFIXES)
    }


def worker_environment(
    resolved: Environment, base: Mapping[str, str] | None = None
) -> WorkerEnvironment:
    """The environment for `wrangler dev`: runtime names from `base`, then the project's names."""
    from worktime_cli.secrets.environment import SOURCE_VARS

    base = os.environ if base is None else base
    declared = declares_secrets(resolved)
    required = set(resolved.required)
    project = {
        name: value
        for name, value in resolved.values.items()
        # [vars] come from the config, which wrangler reads itself.
        if resolved.sources.get(name) != SOURCE_VARS and (not declared or name in required)
    }
    _check_carriable(project, resolved)
    runtime = runtime_environment(base)
    for name in project:
        runtime.pop(name, None)
    if not declared:
        runtime[INCLUDE_PROCESS_ENV] = "true"
    exposed = () if declared else tuple(sorted(runtime))
    return WorkerEnvironment(
        variables={**runtime, **project},
        passed=tuple(sorted(project)),
        ignored=undeclared(resolved),
        exposed=exposed,
    )


def child_environment(
    resolved: Environment, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """For `worktime run`: our own environment with every resolved name set over it."""
    base = os.environ if base is None else base
    _check_carriable(resolved.values, resolved)
    return {**base, **resolved.values}


def _check_carriable(values: Mapping[str, str], resolved: Environment) -> None:
    """Refuse, naming the name and its source, what no process environment can carry.

    Dotenv files, `--var` and `secret put` refuse such values where they enter; this catches
    the rest (a `[vars]` value, a keyring entry written by another tool or an older worktime)
    before exec would raise ValueError.
    """
    from worktime_cli.project.devvars import CANNOT_CARRY, environment_problem

    for name, value in values.items():
        problem = environment_problem(name, value)
        if problem is None:
            continue
        source = resolved.sources.get(name, "?")
        shown = name if problem.startswith("the value") else _escaped_name(name)
        raise ConfigError(
            f"cannot hand {shown} (from {_SOURCE_PLACES.get(source, source)}) to a process: "
            f"{problem}{CANNOT_CARRY}",
            hint=_SOURCE_HINTS.get(source, f"change it in {source}").format(name=name),
        )


_SOURCE_PLACES = {"vars": "[vars] in the config", "keyring": "the keyring"}
_SOURCE_HINTS = {
    "vars": "change or remove it in the config's [vars]",
    "keyring": "store it again with `worktime secret put {name}`, or delete it",
}


def _escaped_name(name: str) -> str:
    # A name from the config, not a value: shown, with what cannot be printed escaped.
    return '"' + name.encode("unicode_escape", "backslashreplace").decode("ascii")[:80] + '"'


# --- what a plain `wrangler dev` would see -----------------------------------------------------------


@dataclass(frozen=True)
class SecretSight:
    """One required secret: where worktime resolves it, where a plain `wrangler dev` would."""

    name: str
    worktime: str | None  # "keyring", ".dev.vars", …; None: resolves from nowhere
    wrangler: str | None  # ".dev.vars", ".env", "process env"; None: wrangler does not see it

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "worktime": self.worktime, "wrangler_dev": self.wrangler}


def wrangler_sight(
    resolved: Environment, process_env: Mapping[str, str] | None = None
) -> tuple[SecretSight, ...]:
    """For each required name, where worktime and a plain `wrangler dev` find it.

    wrangler reads one `.dev.vars` file (and then nothing else), else the `.env` files and the
    process environment (the latter always with `[secrets] required`, else only when
    CLOUDFLARE_INCLUDE_PROCESS_ENV=true); never the keyring. `resolved.files` already is the
    list of dotenv files wrangler reads.
    """
    from worktime_cli.secrets.environment import DEV_VARS, LOAD_DOT_ENV_VARIABLE

    process_env = os.environ if process_env is None else process_env
    files = [path.name for path in resolved.files]
    dev_vars = len(files) == 1 and files[0].startswith(DEV_VARS)
    # CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV=false turns off the .env files *and* the process
    # environment in wrangler: both are read by the same call.
    dot_env = process_env.get(LOAD_DOT_ENV_VARIABLE, "").strip().lower() != "false"
    include_process = (
        not dev_vars
        and dot_env
        and (declares_secrets(resolved) or _truthy(process_env.get(INCLUDE_PROCESS_ENV)))
    )
    sights = []
    for name in resolved.required:
        layers = resolved.layers.get(name, ())
        in_files = [source for source in layers if source in files]
        seen: str | None = in_files[-1] if in_files else None
        # Process env beats the .env files in wrangler (dotenv-expand keeps what is set).
        if include_process and name in process_env:
            seen = PROCESS_ENV
        sights.append(SecretSight(name, resolved.sources.get(name), seen))
    return tuple(sights)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def undeclared_warning(resolved: Environment) -> str | None:
    """The one line `dev` and `doctor` say about names wrangler drops, or None."""
    names = undeclared(resolved)
    if not names:
        return None
    shown = ", ".join(f"{name} ({source})" for name, source in names)
    return f"not in [secrets] required, so wrangler does not hand them to the Worker: {shown}"
