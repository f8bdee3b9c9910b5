"""The real Worker: find the project's wrangler, check Node.js and the entry point, build the argv.

`worktime dev --worker` runs the project's own wrangler (`wrangler dev`) with the environment
`worker_env` computes, through `runner.run`. The argv holds names and paths only, never a
value (every user of the machine can read argv with `ps`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import ConfigError, WorktimeError

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

WRANGLER_VARIABLE = "WORKTIME_WRANGLER"

# `--env-file` for wrangler: a path below a device, which no file can ever have (ENOTDIR), so
# nobody can plant values there and wrangler reads no dotenv file at all (see `worker_env`).
NO_DOTENV_FILE = os.path.join(os.devnull, "no-dotenv-file")


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
