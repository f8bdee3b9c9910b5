"""Everything the CLI prints goes through here: stdout for data, stderr for talk.

Rich decides colour and animation from the terminal (none when piped; `NO_COLOR` honoured).
User data is always printed with markup off, so `[brackets]` in SQL or keys survive.
Rich is imported inside the functions: `worktime --version` should not pay for it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def stdout() -> Console:
    from rich.console import Console

    # Built per call so the console always writes to the current sys.stdout (test runners
    # swap it) and re-checks whether it is a terminal.
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def is_terminal(stream: Any = None) -> bool:
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# --- data (stdout) ---------------------------------------------------------------------------


def print_json(data: Any) -> None:
    """Plain `json.dumps` with stable keys: what scripts parse."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class Renderable(Protocol):
    """What core operations return: a frozen result that knows its JSON form."""

    def to_json(self) -> Any: ...


def render(result: Renderable, *, json: bool, human: Callable[[Any], None]) -> None:
    """The one renderer: `result.to_json()` on stdout for scripts, else `human(result)`."""
    if json:
        print_json(result.to_json())
    else:
        human(result)


def error_json(message: str, hint: str | None, code: int, partial: Any = None) -> None:
    """A failure under `--json`: still JSON on stdout, so scripts never parse an empty string.

    The shape follows `wrangler d1 execute --json` on failure (`{"error": {"text": …}}`, with
    the hint as a note as wrangler's API errors carry them). `partial` is what a failed run
    got through before it stopped (e.g. the migrations applied before the failing one).
    """
    notes = [{"text": hint}] if hint else []
    envelope: dict[str, Any] = {"text": message, "notes": notes, "kind": "error", "code": code}
    if partial is not None:
        envelope["result"] = partial.to_json()
    print_json({"error": envelope})


def result(data: Any, message: str, *, json: bool) -> None:
    """A command's outcome: `data` as JSON on stdout for scripts, else a success line on stderr."""
    if json:
        print_json(data)
    else:
        success(message)


def print_value(text: str) -> None:
    sys.stdout.write(text + "\n")


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    justify: dict[str, str] | None = None,
) -> None:
    """A table of user data (markup off in every cell)."""
    from rich.table import Table
    from rich.text import Text

    # On a terminal, cells fold to the window; piped, nothing is cut or folded (a path or a
    # key stays whole for grep and cut), whatever COLUMNS says.
    terminal = is_terminal()
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(
            column,
            justify=(justify or {}).get(column, "left"),  # type: ignore[arg-type]
            overflow="fold" if terminal else "ignore",
            no_wrap=not terminal,
        )
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row))
    console = stdout()
    if not terminal:
        console.width = max(console.width, _natural_width(columns, rows))
    console.print(table)


def _natural_width(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """The width a table needs with no cell cut: widest cell per column plus padding."""
    widths = [len(c) for c in columns]
    for row in rows:
        for i, value in enumerate(row):
            longest = max((len(line) for line in _cell(value).splitlines()), default=0)
            widths[i] = max(widths[i], longest)
    return sum(widths) + 3 * len(widths) + 2


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- talk (stderr) ---------------------------------------------------------------------------


def _text(text: str, style: str = "") -> Text:
    from rich.text import Text

    return Text(text, style=style)


def info(message: str) -> None:
    stderr().print(_text(message))


def success(message: str) -> None:
    stderr().print(_text("✓ ", "green") + _text(message))


def warn(message: str) -> None:
    stderr().print(_text("warning: ", "yellow bold") + _text(message))


def error(message: str, hint: str | None = None) -> None:
    console = stderr()
    console.print(_text("error: ", "red bold") + _text(message))
    if hint:
        console.print(_text("hint: ", "dim") + _text(hint))


def confirm(question: str, *, yes: bool, action: str) -> None:
    """Ask before destroying data. `--yes` skips; without a terminal, refuse rather than guess."""
    if yes:
        return
    if not is_terminal(sys.stdin):
        raise WorktimeError(
            f"refusing to {action} without confirmation",
            hint="pass --yes to confirm non-interactively",
        )
    import typer

    if not typer.confirm(question, default=False, err=True):
        raise WorktimeError("cancelled, nothing changed")


@contextmanager
def progress_bytes(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A byte progress bar on a terminal; a no-op callback otherwise."""
    if not is_terminal(sys.stderr) or total <= 0:
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr(), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def progress_items(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A count progress bar on a terminal; a no-op callback otherwise."""
    if not is_terminal(sys.stderr) or total <= 0:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr(),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
