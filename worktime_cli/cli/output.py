"""Everything the CLI prints goes through here: stdout for data, stderr for talk.

Rich decides colour and animation from the terminal (none when piped; `NO_COLOR` honoured).
User data is always printed with markup off, so `[brackets]` in SQL or keys survive.
Rich is imported inside the functions: `worktime --version` should not pay for it.

How much talk there is lives here too (`-q/--quiet`, `-v/--verbose`, set by cli/app.py for
every command): quiet keeps errors and warnings only; verbose adds `detail()` lines. Neither
changes a byte of stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from worktime_cli.errors import WorktimeError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.text import Text


# --- verbosity -------------------------------------------------------------------------------

QUIET = -1
NORMAL = 0
VERBOSE = 1

# One invocation's level: cli/app.py resets it when a run starts and sets it from -q/-v.
_verbosity = NORMAL


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def is_quiet() -> bool:
    return _verbosity <= QUIET


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
    """Talk: what happened or what to do next. Silent under -q."""
    if not is_quiet():
        stderr().print(_text(message))


def detail(message: str) -> None:
    """What a careful user may want to see (which config, which folder): only under -v."""
    if _verbosity >= VERBOSE:
        stderr().print(_text(message, "dim"))


def success(message: str) -> None:
    if not is_quiet():
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


# Work shorter than this shows no bar at all: a bar that flashes up and away is noise.
PROGRESS_DELAY = 1.0
# Seconds; tests set it to 0 so a small job shows its bar (through a real pseudo-terminal).
PROGRESS_DELAY_ENV = "WORKTIME_PROGRESS_DELAY"


class Bar:
    """What a core function's progress callback drives; this one shows nothing.

    Core functions take plain callbacks (they never import rich): pass `bar.advance` to one
    that reports increments (`on_progress(n)`), `bar.update` to one that reports
    `on_progress(done, total)`. Both are cheap enough to call per chunk or per batch.
    """

    # Whether a bar can appear at all: work done only for the bar (counting a file's lines
    # first) is skipped when it cannot.
    wanted = False

    def advance(self, amount: int) -> None:
        """`amount` more units done."""

    def update(self, done: int, total: int | None = None) -> None:
        """`done` units so far, of `total` when known (None keeps the total it has)."""

    def describe(self, description: str) -> None:
        """What is being done now (e.g. the migration running)."""


class _DelayedBar(Bar):
    """A Rich progress bar on stderr that appears only once the work has run `delay` seconds.

    A timer thread starts it, so a step that blocks for long (one remote request) still gets
    its bar on time. It is transient (gone when the work ends) and leaves stdout alone.
    """

    # Rich redraws at most 10 times a second: pushing values more often only costs locks.
    _PUSH_EVERY = 0.1
    wanted = True

    def __init__(
        self, console: Console, description: str, total: int | None, unit: str, delay: float
    ) -> None:
        # Imported here, on the caller's thread, never first by the timer thread.
        from rich import progress as rich_progress

        self._rich = rich_progress
        self._console = console
        self._description = description
        self._total = total
        self._unit = unit
        self._done = 0
        self._lock = threading.Lock()
        self._closed = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._pushed = 0.0
        self._timer: threading.Timer | None = None
        if delay <= 0:
            self._start()
        else:
            self._timer = threading.Timer(delay, self._start)
            self._timer.daemon = True
            self._timer.start()

    def _columns(self) -> tuple[Any, ...]:
        p = self._rich
        text = p.TextColumn("{task.description}")
        if self._unit == "bytes":
            return (
                text,
                p.BarColumn(),
                p.DownloadColumn(),
                p.TransferSpeedColumn(),
                p.TimeRemainingColumn(),
            )
        if self._unit:
            return (text, p.BarColumn(), _count_column(self._unit), p.TimeElapsedColumn())
        return (text, p.BarColumn(), p.TimeElapsedColumn())

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                return
            # stdout stays data: only stderr is redirected above the bar (so a warning
            # printed meanwhile lands above it instead of through it).
            progress = self._rich.Progress(
                *self._columns(), console=self._console, transient=True, redirect_stdout=False
            )
            self._task = progress.add_task(
                self._description, total=self._total, completed=self._done
            )
            progress.start()
            self._progress = progress

    def advance(self, amount: int) -> None:
        self.update(self._done + amount)

    def update(self, done: int, total: int | None = None) -> None:
        self._done = done
        if total is not None:
            self._total = total
        if self._progress is not None:
            self._push()

    def describe(self, description: str) -> None:
        self._description = description
        if self._progress is not None:
            self._push(force=True)

    def _push(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._pushed < self._PUSH_EVERY:
            return
        self._pushed = now
        assert self._progress is not None and self._task is not None
        self._progress.update(
            self._task, completed=self._done, total=self._total, description=self._description
        )

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


def _count_column(unit: str) -> Any:
    """`1,200/5,000 rows`; `1,200 rows` while the total is unknown; nothing before the first
    count (a remote step that reports none)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Count(ProgressColumn):
        def render(self, task: Any) -> Text:
            if task.total is None and not task.completed:
                return Text("")
            done = f"{int(task.completed):,}"
            return Text(
                f"{done} {unit}" if task.total is None else f"{done}/{int(task.total):,} {unit}"
            )

    return Count()


def _progress_delay() -> float:
    try:
        return float(os.environ.get(PROGRESS_DELAY_ENV, PROGRESS_DELAY))
    except ValueError:
        return PROGRESS_DELAY


@contextmanager
def progress(description: str, total: int | None = None, *, unit: str) -> Iterator[Bar]:
    """A progress bar for long work: on stderr, only when it is a terminal, not under -q,
    and only once the work has run about a second.

    `unit` names what is counted ("rows", "keys", "migrations"), or is "bytes" (sizes and a
    transfer rate), or "" (no count: an indeterminate bar with the time elapsed, for one
    long step). Anywhere else the bar is a no-op, so stderr of a piped run is the same with
    or without it.

    Example:

        with output.progress(f"importing {file.name}", total, unit="rows") as bar:
            result = importer.import_rows(..., on_progress=bar.advance)
    """
    if is_quiet() or not is_terminal(sys.stderr):
        yield Bar()
        return
    console = stderr()
    if not console.is_interactive:  # TERM=dumb: a bar that cannot redraw itself is noise
        yield Bar()
        return
    bar = _DelayedBar(console, description, total, unit, _progress_delay())
    try:
        yield bar
    finally:
        bar.close()


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
