"""Run a child command to completion with exactly the environment it is given.

`worktime run -- CMD` shares our terminal and process group; `dev --worker` runs wrangler in a
process group of its own, so one signal reaches wrangler and the workerd processes it starts.
A command that cannot be run fails as a shell's would (127, 126), before anything starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from worktime_cli.errors import UsageError, WorktimeError

# After Ctrl+C, how long wrangler gets to stop its workerd children before SIGTERM, then SIGKILL.
GRACE_SECONDS = 10.0
KILL_SECONDS = 5.0


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
