"""The reloader: watch the bindings' files and swap in new bindings, without a restart.

wrangler.toml, .dev.vars (and the files environment.resolve falls back to) and the migrations
folders are watched from a background thread; a change rebuilds the bindings and hands them
to the running app. A rebuild that fails keeps the old bindings and says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from worktime_cli.dev.app import reload_app
from worktime_cli.dev.bindings import Bindings, resolved_path, startup_warnings
from worktime_cli.errors import WorktimeError
from worktime_cli.secrets import scrub

if TYPE_CHECKING:
    from starlette.applications import Starlette

EventLog = Callable[[str, str], None]  # (level, message): "info" | "warn" | "error"


def watch(
    app: Starlette, rebuild: Callable[[], Bindings], stop: threading.Event, event: EventLog
) -> None:
    """Rebuild the bindings whenever a watched file changes, until `stop` is set."""
    try:
        _watch_loop(app, rebuild, stop, event)
    except Exception as exc:  # never a traceback from this thread: say so, and stop reloading
        event(
            "error",
            f"watching for changes stopped ({type(exc).__name__}: {scrub.clean(str(exc))}); "
            "restart `worktime dev` to reload again",
        )


def _watch_loop(
    app: Starlette, rebuild: Callable[[], Bindings], stop: threading.Event, event: EventLog
) -> None:
    import watchfiles

    while not stop.is_set():
        files = app.state.current.bindings.watched_files()
        targets = _watch_targets(files)
        wanted = {str(resolved_path(p)) for p in files}
        for changes in watchfiles.watch(
            *targets, stop_event=stop, recursive=False, debounce=200, raise_interrupt=False
        ):
            changed = sorted(
                {Path(path).name for _kind, path in changes if _relevant(path, wanted)}
            )
            if not changed:
                continue
            what = ", ".join(changed)
            try:
                bindings = rebuild()
            except WorktimeError as exc:
                event("warn", f"{what} changed but the bindings were kept: {exc.message}")
                continue
            except Exception as exc:  # a bug must not silently end reloading for the session
                detail = scrub.clean(str(exc))  # an error may quote a value it was given
                event(
                    "error", f"{what} changed but reloading failed: {type(exc).__name__}: {detail}"
                )
                continue
            reload_app(app, bindings)
            event("info", f"{what} changed: bindings reloaded")
            for warning in startup_warnings(bindings):
                event("warn", warning)
            if _watch_targets(bindings.watched_files()) != targets:
                break  # a folder appeared, or migrations_dir moved: watch the new set
        else:
            return


def _watch_targets(files: list[Path]) -> list[str]:
    # watchfiles needs existing paths, and watching a file misses atomic replaces (a new
    # inode), so watch folders: the file's own folder, or a missing folder's parent, where
    # its creation shows up.
    targets = set()
    for path in files:
        if path.is_dir():
            targets.add(str(path))
        elif path.parent.is_dir():
            targets.add(str(path.parent))
    return sorted(targets)


def _relevant(path: str, wanted: set[str]) -> bool:
    name = Path(path).name
    return (
        path in wanted
        or str(Path(path).parent) in wanted
        # .dev.vars.<env>, .dev.vars.example (it can name the required secrets), and the
        # .env files environment.resolve falls back to.
        or name.startswith((".dev.vars", ".env"))
    ) and not name.endswith(".tmp")
