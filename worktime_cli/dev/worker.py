"""Hand the resolved environment to a child process: the real Worker, or any command.

`worktime dev --worker` runs the project's own wrangler (`wrangler dev`) and `worktime run --
CMD` runs anything else, both with the environment `environment.resolve` computes
(`[vars]` < keyring < `.dev.vars` < `--var`). Values travel **only in the child's process
environment**: never in argv (which every user of the machine can read with `ps`), never in a
file on disk.

How wrangler 4 picks up values (`getVarsForDev`, `src/dev/dev-vars.ts`, read in its bundled
cli.js 4.86):

- without `--env-file`, a `.dev.vars` (or `.dev.vars.<env>`) file wins and *nothing else* is
  read, the process environment included; so worktime always passes `--env-file` naming a
  path where no file can exist (`NO_DOTENV_FILE`): wrangler then skips `.dev.vars` and the
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

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, UsageError, WorktimeError

if TYPE_CHECKING:
    from worktime_cli.project.config import Config
    from worktime_cli.secrets.environment import Environment

WRANGLER_VARIABLE = "WORKTIME_WRANGLER"
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

# `--env-file` for wrangler: a path below a device, which no file can ever have (ENOTDIR), so
# nobody can plant values there and wrangler reads no dotenv file at all (see the docstring).
NO_DOTENV_FILE = os.path.join(os.devnull, "no-dotenv-file")

# After Ctrl+C, how long wrangler gets to stop its workerd children before SIGTERM, then SIGKILL.
GRACE_SECONDS = 10.0
KILL_SECONDS = 5.0


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


# --- finding and running wrangler ---------------------------------------------------------------


@dataclass(frozen=True)
class Wrangler:
    path: Path
    origin: str  # "node_modules" or WORKTIME_WRANGLER

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "origin": self.origin}


def find_wrangler(root: Path, environ: Mapping[str, str] | None = None) -> Wrangler:
    """The project's `node_modules/.bin/wrangler`, else `$WORKTIME_WRANGLER`."""
    environ = os.environ if environ is None else environ
    local = root / "node_modules" / ".bin" / "wrangler"
    if local.is_file() and os.access(local, os.X_OK):
        return Wrangler(local, "node_modules")
    if configured := environ.get(WRANGLER_VARIABLE):
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise WorktimeError(
                f"{WRANGLER_VARIABLE} is {configured}, which is not an executable file",
                hint="point it at a wrangler launcher, or unset it and run `npm install`",
            )
        return Wrangler(path, WRANGLER_VARIABLE)
    raise WorktimeError(
        f"wrangler is not installed in this project (no {local})",
        hint="run `npm install --save-dev wrangler@4` in the project folder "
        f"(it needs Node.js {_scaffold_node()} or newer), or set {WRANGLER_VARIABLE} to a "
        "wrangler launcher",
    )


def _scaffold_node() -> str:
    """The Node.js the wrangler `init` pins needs (the scaffold's `engines.node`), e.g. 22.12.0.

    No wrangler is installed yet, so its own `engines.node` cannot be read: the scaffold's
    package.json declares the same floor (test_toolchain keeps the two in step).
    """
    import json

    from worktime_cli.dev import toolchain
    from worktime_cli.dev.scaffold import scaffold_file

    data = json.loads(scaffold_file("package.json").read_text(encoding="utf-8"))
    minimum = toolchain.minimum_of(str(data.get("engines", {}).get("node", "")))
    return toolchain.shown(minimum) if minimum else "22"


def entry_point(cfg: Config) -> Path:
    """The Worker's `main`, checked before wrangler starts (its own error comes much later)."""
    main = cfg.section.get("main", cfg.data.get("main"))
    if not isinstance(main, str) or not main:
        raise ConfigError(
            f"{cfg.path.name} has no `main`, the Worker's entry point that wrangler dev runs",
            hint='add a line like `main = "src/index.ts"` (`worktime init` writes the seed\'s)',
        )
    path = cfg.root / main
    # A custom build (`[build] command`) may write `main` only when wrangler runs it.
    if not path.is_file() and not cfg.section.get("build", cfg.data.get("build")):
        raise ConfigError(
            f"the Worker's entry point {main} (`main` in {cfg.path.name}) does not exist",
            hint="create it, or run `worktime init`, which writes the seed's src/index.ts",
        )
    return path


def require_node(env: Mapping[str, str], root: Path | None = None) -> None:
    """The `node` on the child's PATH, checked against the project's wrangler before it starts.

    wrangler's launchers start with `#!/usr/bin/env node`, and a too-old node fails deep in
    wrangler's start-up; the Node.js needed is `engines.node` of `root`'s node_modules
    wrangler (read by `toolchain`, as `doctor` reads it), so the hint names that release.
    """
    from worktime_cli.dev import toolchain

    installed = toolchain.installed_wrangler(root) if root is not None else None
    need = installed.node_engines if installed is not None else None
    minimum = toolchain.minimum_of(need) if need else None
    hint = toolchain.NODE_HINT.format(need=toolchain.shown(minimum) if minimum else "22")
    node = shutil.which("node", path=env.get("PATH"))
    if node is None:
        message = toolchain.node_problem(need, None) if need else None
        raise WorktimeError(message or "node is not on PATH, and wrangler runs on Node.js", hint)
    if minimum is None:
        return
    have = toolchain.node_version(node)
    # A node that does not say its version is left to wrangler: guessing would only mislead.
    problem = toolchain.node_problem(need, have) if have is not None else None
    if problem is not None:
        raise WorktimeError(problem, hint)


def wrangler_dev_argv(
    wrangler: Wrangler,
    cfg: Config,
    *,
    port: int | None = None,
    ip: str | None = None,
    inspector_port: int | None = None,
    env: str | None = None,
    persist_to: Path | None = None,
    log_level: str | None = None,
    cli_vars: Mapping[str, str] | None = None,
) -> list[str]:
    """`wrangler dev …` for the project. Holds names and paths, never a keyring or file value.

    `cli_vars` are the `--var` items the user typed on worktime's own command line (already
    visible in `ps` there); they go on as wrangler's `--var`, so they override `[vars]` as they
    do in wrangler, even for names `[secrets] required` does not list.
    """
    argv = [str(wrangler.path), "dev", "--config", str(cfg.path), "--envFile", NO_DOTENV_FILE]
    if port is not None:
        argv += ["--port", str(port)]
    if ip is not None:
        argv += ["--ip", ip]
    if inspector_port is not None:
        argv += ["--inspector-port", str(inspector_port)]
    if env is not None:
        argv += ["--env", env]
    if persist_to is not None:
        argv += ["--persist-to", str(persist_to.resolve())]
    if log_level is not None:
        argv += ["--log-level", log_level]
    for name, value in (cli_vars or {}).items():
        argv += ["--var", f"{name}:{value}"]
    return argv


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    own_group: bool = False,
) -> int:
    """Run `argv` to completion with exactly `env`; return its exit code (128+N for signal N).

    `own_group` (wrangler): the child leads its own process group, so one signal reaches
    wrangler and the workerd processes it starts; Ctrl+C here is passed to that group, and a
    group that has not stopped after `GRACE_SECONDS` gets SIGTERM, then SIGKILL. The child's
    stdin is /dev/null: a background group that reads the terminal would be stopped (SIGTTIN).

    Otherwise (`worktime run`) the child shares our terminal and process group, so Ctrl+C
    reaches it directly; we ignore SIGINT while it runs and pass on SIGTERM and SIGHUP.
    """
    program = argv[0]
    if any("\x00" in arg for arg in argv):
        # Only possible in-process: the OS hands us no argument with a NUL in it.
        raise UsageError("an argument of the command holds a NUL byte, which no process can take")
    _check_program(program, env.get("PATH"))
    # What we said so far must come out before the child's own output, not after it exits.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        proc = subprocess.Popen(  # argv from the user or find_wrangler, no shell
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL if own_group else None,
            process_group=0 if own_group else None,
        )
    except FileNotFoundError as exc:  # e.g. a script whose #! interpreter does not exist
        raise CommandNotFound(f"cannot run {program}: {exc.strerror}") from None
    except OSError as exc:
        raise CommandNotExecutable(f"cannot run {program}: {exc.strerror}") from None
    with _forwarding(proc, own_group):
        code = _wait(proc, own_group)
    return code if code >= 0 else 128 - code


class CommandNotFound(WorktimeError):
    """No such command: exit 127, as a shell does."""

    exit_code = 127


class CommandNotExecutable(WorktimeError):
    """The command exists but cannot be run (no permission, a folder): exit 126, as a shell."""

    exit_code = 126


def _check_program(program: str, path: str | None) -> None:
    """Raise the shell's error for a command that cannot be run, before anything starts."""
    if os.sep in program or (os.altsep and os.altsep in program):
        # A path is taken as given, as a shell does: no PATH search.
        if not os.path.lexists(program):
            raise CommandNotFound(f"cannot run {program}: no such file")
        if os.path.isdir(program):
            raise CommandNotExecutable(f"cannot run {program}: it is a folder")
        if not os.access(program, os.X_OK):
            raise CommandNotExecutable(
                f"cannot run {program}: not executable",
                hint=f"make it executable (chmod +x {program}), or run it with its interpreter",
            )
        return
    if shutil.which(program, path=path) is not None:
        return
    folders = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    if any(os.path.isfile(os.path.join(folder or ".", program)) for folder in folders):
        # As a shell: a file of that name on PATH that is not executable is "permission denied".
        raise CommandNotExecutable(
            f"cannot run {program}: the {program} on PATH is not executable",
            hint="make it executable (chmod +x), or run it with its interpreter",
        )
    raise CommandNotFound(
        f"cannot run {program}: command not found", hint="check the command name and PATH"
    )


def _wait(proc: subprocess.Popen[bytes], own_group: bool) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        if not own_group:  # unreachable: SIGINT is ignored while a shared-group child runs
            raise
        _signal_group(proc, signal.SIGINT)
        return _stop(proc)
    finally:
        if own_group:
            # wrangler has exited; a workerd it left behind must not keep the port.
            _signal_group(proc, signal.SIGTERM)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    for sig, seconds in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, KILL_SECONDS)):
        try:
            return proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            _signal_group(proc, sig)
        except KeyboardInterrupt:  # a second Ctrl+C: stop now
            _signal_group(proc, signal.SIGKILL)
    return proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextlib.contextmanager
def _forwarding(proc: subprocess.Popen[bytes], own_group: bool) -> Iterator[None]:
    """SIGTERM/SIGHUP to us go on to the child (its group); SIGINT as described in `run`."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        if own_group:
            _signal_group(proc, signum)
        elif proc.poll() is None:
            proc.send_signal(signum)

    wanted: dict[int, Any] = {signal.SIGTERM: forward, signal.SIGHUP: forward}
    if not own_group:
        wanted[signal.SIGINT] = signal.SIG_IGN
    previous: dict[int, Any] = {}
    try:
        for signum, handler in wanted.items():
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
