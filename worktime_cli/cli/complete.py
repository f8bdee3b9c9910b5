"""Shell completion of the project's own names: databases, bindings, envs, migrations, secrets.

Click asks a parameter for candidates while the user presses Tab; these functions answer from
the wrangler config the command would use (`--config`/`--env` when already typed). They are
attached by parameter name in one place (`attach`), so every command that takes a DATABASE or
an `--env` completes it the same way. A completion must never fail or print: any problem
(no config yet, a broken file) answers nothing, and the shell falls back to file names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from worktime_cli.project.config import Config

Complete = Callable[[Any, Any, str], list[Any]]


def _config(ctx: Any, *, with_env: bool = True) -> Config | None:
    from worktime_cli.project import config

    params: dict[str, Any] = {}
    node = ctx
    while node is not None:  # options typed on this command or on a parent group
        params = {**node.params, **params}
        node = node.parent
    explicit = params.get("config")
    env = params.get("env") if with_env else None
    try:
        return config.load(Path(explicit) if explicit else None, env=env)
    except WorktimeError:  # no config here yet, or a broken one: nothing to offer
        return None


def _matching(incomplete: str, names: Iterable[str]) -> list[Any]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(n) for n in dict.fromkeys(names) if n.startswith(incomplete)]


def databases(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    cfg = _config(ctx)
    if cfg is None:
        return []
    names = [db.database_name for db in cfg.d1_databases] + [db.binding for db in cfg.d1_databases]
    return _matching(incomplete, names)


def kv_bindings(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    cfg = _config(ctx)
    return [] if cfg is None else _matching(incomplete, [ns.binding for ns in cfg.kv_namespaces])


def environments(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    cfg = _config(ctx, with_env=False)
    return [] if cfg is None else _matching(incomplete, cfg.defined_envs)


def _databases_of(ctx: Any, cfg: Config) -> list[Any]:
    """The DATABASE typed before, else every database of the config.

    Click leaves the parameters empty while the option being completed still lacks its
    value (`… rollback worktime-db --to <Tab>`), so the argument is not always known.
    """
    database = ctx.params.get("database")
    try:
        return [cfg.d1(database)] if database else list(cfg.d1_databases)
    except WorktimeError:  # a DATABASE that is not in the config
        return list(cfg.d1_databases)


def migrations(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    from worktime_cli.migrations import files

    cfg = _config(ctx)
    if cfg is None:
        return []
    names: list[str] = []
    for db in _databases_of(ctx, cfg):
        # The binding's layout: its migrations_pattern, where one is set, as wrangler reads it.
        names += [f.name for f in files.discover(files.layout(cfg, db), missing_ok=True)]
    return _matching(incomplete, names)


def snapshots(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    from worktime_cli.d1 import snapshots as snaps

    cfg = _config(ctx)
    if cfg is None:
        return []
    names: list[str] = []
    for db in _databases_of(ctx, cfg):
        names += [s.name for s in snaps.list_snapshots(cfg, db, ctx.params.get("persist_to"))]
    return _matching(incomplete, names)


def secrets(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    from worktime_cli.secrets import environment

    cfg = _config(ctx)
    if cfg is None:
        return []
    required, _ = environment.required_names(cfg, ctx.params.get("env"))
    return _matching(incomplete, required)


def _quiet(complete: Complete) -> Complete:
    """A Tab press never shows a traceback: whatever goes wrong answers nothing."""

    def answer(ctx: Any, param: Any, incomplete: str) -> list[Any]:
        try:
            return complete(ctx, param, incomplete)
        except Exception:  # a convenience: its only failure mode is offering nothing
            return []

    return answer


def _pick(path: tuple[str, ...], name: str) -> Complete | None:
    """Which names a parameter takes, from where it stands (`("d1", "restore")`) and its name."""
    group = path[0] if path else ""
    if name == "database":
        return databases
    if name == "env":
        return environments
    if name == "binding" and group == "kv" and path[1:] != ("namespace", "create"):
        return kv_bindings
    if group == "d1" and path[1:2] == ("migrations",) and name in ("to", "name"):
        return migrations
    if path == ("d1", "restore") and name == "snapshot":
        return snapshots
    if group == "secret" and name == "name":
        return secrets
    return None


def attach(command: Any, path: tuple[str, ...]) -> None:
    """Give every parameter under `command` its completion (click's `shell_complete` hook)."""
    for param in getattr(command, "params", ()):
        chosen = _pick(path, param.name or "")
        if chosen is not None and getattr(param, "_custom_shell_complete", None) is None:
            # The attribute behind click's `shell_complete=` argument (click >= 8.0): set here
            # so the commands declare their parameters once and completion is wired once.
            param._custom_shell_complete = _quiet(chosen)
    for name, sub in getattr(command, "commands", {}).items():
        attach(sub, (*path, name))
