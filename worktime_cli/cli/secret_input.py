"""What a `secret` command reads from the user, read safely: a name checked (a value typed where
the name goes is refused without being repeated), extra words refused without being shown, and a
value from a hidden prompt, standard input or a file, bounded; never from argv, where it would be
visible in `ps` and saved in shell history.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

import typer

from worktime_cli.cli import output
from worktime_cli.errors import LimitError, UsageError, WorktimeError

# Extra words after NAME are caught by the command itself: Click's own error quotes them,
# and the usual extra word is a pasted secret value.
CATCH_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def refuse_extra_arguments(extra: list[str], usage: str) -> None:
    """A usage error that says how many words were extra, never which: they may be a value."""
    if extra:
        raise UsageError(
            f"got {len(extra)} unexpected extra argument(s) (not shown: they may hold a secret value)",
            hint=f"usage: {usage}; a value is read from a hidden prompt or standard input, "
            "never from the command line (clear it from your shell history)",
        )


def checked_name(name: str) -> str:
    """A valid secret name, or an error that repeats it only when it cannot be a value.

    `secret put sk_live_…` is a value typed where the name goes.
    """
    from worktime_cli.secrets import scrub
    from worktime_cli.targets.secrets import validate_name

    hint = "names start with a letter or _ and contain only letters, digits and _"
    if scrub.value_as_name(name) or not name.isprintable():
        # `sk_live_…` even matches the name pattern: stored, its "name" would be printed.
        raise WorktimeError(
            "invalid secret name (not shown: it looks like a secret value)",
            hint="give the name (e.g. STRIPE_KEY) as the argument; the value is read from a "
            "hidden prompt or standard input (clear the value from your shell history)",
        )
    try:
        return validate_name(name)
    except WorktimeError as exc:
        raise WorktimeError(exc.message, exc.hint or hint) from None


def _stdin_is_terminal() -> bool:
    # Its own function so tests can take the prompt path (CliRunner's stdin is never a TTY).
    return output.is_terminal(sys.stdin)


def read_value(name: str) -> str:
    if _stdin_is_terminal():
        value: str = typer.prompt(f"Enter a secret value for {name}", hide_input=True, err=True)
        return value
    from worktime_cli.secrets import stores as secrets

    # Bytes, bounded: a value is at most 5 KiB, so a pipe from /dev/zero is refused after
    # that much instead of filling memory; decoded strictly, never echoed.
    return secrets.decode_input(
        _read_bounded(sys.stdin.buffer, secrets.MAX_VALUE_BYTES * 4), f"the value for {name}"
    )


def _read_bounded(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise LimitError(
            f"standard input is larger than {limit // 1024} KiB; nothing was stored",
            hint="pipe the value itself, not a file or device",
        )
    return bytes(data)


def read_source(source: str) -> tuple[str, str]:
    from worktime_cli.secrets import stores as secrets

    limit = secrets.MAX_BULK_BYTES
    if source == "-":
        return secrets.decode_input(_read_bounded(sys.stdin.buffer, limit), "<stdin>"), "<stdin>"
    path = Path(source)
    try:
        # O_NONBLOCK: a FIFO with no writer must not hang the command at open().
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise WorktimeError(f"cannot read {source}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WorktimeError(
            f"{source} is not a regular file",
            hint="give a JSON or .env file, or - to read standard input",
        )
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise LimitError(f"{source} is larger than {limit // 1024} KiB; nothing was stored")
    return secrets.decode_input(data, source), source
