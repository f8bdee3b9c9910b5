"""The real CLI in a forked child of the test process: a process without the interpreter's start.

A subprocess test pays ~0.5 s of CPU to start Python and import typer, rich and worktime before
the command runs; a fork of the test process has all that already. The child is still a real
process: its own argv (bytes, decoded as the interpreter decodes them), environment, working
folder, stdin/stdout/stderr file descriptors, resource limits and exit status, so the checks on
exit codes, streams and files are the same as for `python -m worktime_cli`. What a fork cannot
give back, the child resets: the keyring backend (chosen from its environment, as at a start),
the scrubber's remembered values, the clock's frozen readings.

Keep a few true `python -m worktime_cli` tests beside each forked battery: they cover the
interpreter's own start (argv decoding, stdio set-up, `__main__`).
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


class Hung(Exception):
    """The child did not exit within the timeout (it was killed)."""


def _stdio() -> None:
    """Streams on fds 0/1/2 as the interpreter makes them for pipes under a UTF-8 locale."""
    sys.stdin = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)),
        encoding="utf-8",
        errors="surrogateescape",
    )
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
        encoding="utf-8",
        errors="surrogateescape",
    )
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )


def _fresh_state() -> None:
    """Undo what the test process chose at its own start or in earlier tests."""
    import keyring.core

    from worktime_cli import clock
    from worktime_cli.secrets import scrub

    scrub.forget_all()
    clock.restart()
    keyring.core.init_backend()  # PYTHON_KEYRING_BACKEND, else detection: as a fresh start


def _child(
    argv: Sequence[bytes], cwd: Path, env: Mapping[str, str], preexec: Callable[[], None] | None
) -> int:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    if preexec is not None:
        preexec()
    _stdio()
    _fresh_state()
    sys.argv = ["worktime", *(os.fsdecode(a) for a in argv)]
    from worktime_cli.cli.app import main

    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # as the interpreter's exit when flushing stdout fails
    return code


def run(
    argv: Sequence[bytes],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: bytes = b"",
    timeout: float,
    preexec: Callable[[], None] | None = None,
) -> Completed:
    """`worktime ARGV` in a forked child; its exit status and what it wrote to fds 1 and 2."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                os.dup2(read_end, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                os.close(read_end)
                os.close(write_end)
                code = _child(argv, cwd, env, preexec)
            except BaseException:
                with open(2, "w", closefd=False) as fd2:
                    traceback.print_exc(file=fd2)
            finally:
                os._exit(code)
        os.close(read_end)

        def feed() -> None:
            try:
                if stdin:
                    os.write(write_end, stdin)
            except OSError:
                pass  # the child closed its stdin early, as a real one may
            finally:
                os.close(write_end)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        deadline = time.monotonic() + timeout
        status = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                feeder.join(timeout=5)
                raise Hung(f"no answer within {timeout:g} s")
            else:
                time.sleep(0.005)
        feeder.join(timeout=5)
        out.seek(0)
        err.seek(0)
        return Completed(os.waitstatus_to_exitcode(status), out.read(), err.read())
