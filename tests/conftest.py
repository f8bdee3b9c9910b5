"""Every test runs in its own temporary project, HOME, state dir and keyring.

Tiers: a test that needs an external component (wrangler, node/npm, tsc, Chromium, the Secret
Service, wrk) carries the `slow` marker (the `wrangler` and `secret_service` markers imply it),
so `python -m pytest -m "not slow"` is the fast tier. `components` below enforces it: an
unmarked test that starts one of those programs fails at the launch.

Clock: worktime reads "now" from `worktime_cli.clock` (WORKTIME_NOW). A test that needs a known
date asks for the `frozen_clock` fixture; the others must pass whatever the clock says, and CI
runs them again under shifted clocks (.ci/run).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.memory_keyring import MemoryKeyring
from worktime_cli import clock

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Speed, not semantics. Test folders go on tmpfs where there is one: fsync (SQLite's, worktime's
# atomic writes) is most of a CLI test's wall time on a disk, and no test here is about power
# loss (crash tests kill processes, which tmpfs survives alike). Set PYTEST_DEBUG_TEMPROOT or
# --basetemp to choose another place.
if "PYTEST_DEBUG_TEMPROOT" not in os.environ and os.access("/dev/shm", os.W_OK | os.X_OK):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = "/dev/shm"
# Bytecode caches on (for the rewritten test modules and every `python -m worktime_cli` child):
# without them each process compiles what it imports again.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The markers that name an external component; each implies `slow` (out of the fast tier).
COMPONENT_MARKERS = ("wrangler", "secret_service")

# Programs that belong to the slow tier: a test that starts one must be marked `slow`.
COMPONENTS = frozenset(
    {
        "node",
        "nodejs",
        "npm",
        "npx",
        "wrangler",
        "wrangler.sh",
        "workerd",
        "tsc",
        "chromium",
        "chromium-browser",
        "google-chrome",
        "wrk",
        "gnome-keyring-daemon",
        "dbus-run-session",
        "dbus-daemon",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background (`cmd &`, nohup, some CI runners) inherits SIGINT
    # ignored: Python then never raises KeyboardInterrupt, and every child a test starts
    # inherits the ignore, so the Ctrl+C tests would fail for the harness's sake. A Python
    # handler (unlike SIG_IGN) is reset to the default in each exec'd child.
    del config
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "wrangler" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.wrangler)  # the fixture is the real wrangler
        if any(item.get_closest_marker(name) for name in COMPONENT_MARKERS):
            item.add_marker(pytest.mark.slow)


class UnmarkedComponent(RuntimeError):
    """An unmarked (fast-tier) test started a program of the slow tier."""


_current: list[pytest.Item] = []  # the test running in this process, if unmarked


def _fake(arg: str, env: Any) -> bool:
    """A stand-in a test wrote into its own temporary folder (a fake `npm` on PATH), or none."""
    import tempfile

    path = env.get("PATH") if isinstance(env, dict) else None
    found = shutil.which(arg, path=path or os.environ.get("PATH")) if os.sep not in arg else arg
    if found is None or not os.path.exists(found):
        return True  # nothing runs
    real = os.path.realpath(found)
    temporary = {tempfile.gettempdir(), os.environ.get("PYTEST_DEBUG_TEMPROOT") or "/tmp"}
    return any(real.startswith(os.path.realpath(t) + os.sep) for t in temporary)


def _launched(argv: Any, env: Any = None) -> str | None:
    """The component an argv starts (its program, or a script it runs), or None."""
    if isinstance(argv, str | bytes | os.PathLike):
        argv = [argv]
    for arg in list(argv or [])[:3]:  # the program, or `bash x.sh` / `npx --no -- wrangler`
        text = os.fsdecode(arg)
        name = os.path.basename(text)
        if name in COMPONENTS and not _fake(text, env):
            return name
    return None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # subprocess.Popen: (executable, args, cwd, env); os.posix_spawn / os.exec: (path, argv, env)
    if not _current or event not in ("subprocess.Popen", "os.posix_spawn", "os.exec"):
        return
    env = args[3] if event == "subprocess.Popen" else args[2]
    found = _launched(args[1], env) or _launched([args[0]] if args[0] else [], env)
    if found is None:
        return
    item = _current[-1]
    item.stash[_LAUNCHES] = [*item.stash.get(_LAUNCHES, []), found]
    raise UnmarkedComponent(
        f"{item.nodeid} starts {found} but is not marked slow: mark it "
        "(@pytest.mark.slow, or @pytest.mark.wrangler / secret_service) so the fast tier "
        "(-m 'not slow') needs no external component"
    )


_LAUNCHES = pytest.StashKey[list[str]]()
sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    unmarked = item.get_closest_marker("slow") is None
    if unmarked:
        _current.append(item)
    try:
        return (yield)
    finally:
        if unmarked:
            _current.remove(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # The launch raised inside the test; a test that caught that error still fails here.
    launches = item.stash.get(_LAUNCHES, [])
    if launches and call.when == "call" and report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} started {', '.join(sorted(set(launches)))} but is not marked slow"
        )
    return report


# One instant for the tests that need a known date: a Monday, mid-afternoon UTC, mid-year.
FROZEN_NOW = "2026-06-15T14:30:00Z"


@pytest.fixture(autouse=True)
def _clock_restarts() -> None:
    """A frozen clock reads the same times in every test, whatever ran before."""
    clock.restart()


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """worktime's clock (and every subprocess's) frozen at FROZEN_NOW; returns that instant."""
    monkeypatch.setenv(clock.ENV, FROZEN_NOW)
    clock.restart()
    return dt.datetime.fromisoformat(FROZEN_NOW.replace("Z", "+00:00"))


_SCRUBBED = (
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_BASE_URL",
    "WORKTIME_DEBUG",
    "PYTHON_KEYRING_BACKEND",
    "FORCE_COLOR",
    "CLOUDFLARE_ENV",
)


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project folder (cwd) with a minimal wrangler.toml, and an isolated HOME."""
    home = tmp_path / "home"
    root = tmp_path / "project"
    home.mkdir()
    root.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "dumb")
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(root)
    (root / "wrangler.toml").write_text('name = "worktime-backend"\n', encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[MemoryKeyring | None]:
    """A private in-memory keyring, unless the test asks for the real Secret Service."""
    if request.node.get_closest_marker("secret_service"):
        yield None
        _forget_remembered_values()
        return
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
        _forget_remembered_values()


def _forget_remembered_values() -> None:
    # Values read or stored are scrubbed from every later message of the process: a "1" one
    # test stored would mask the "1" in the next test's expected message (random order).
    from worktime_cli.secrets import scrub

    scrub.forget_all()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Runner:
    """Runs the real CLI in-process through its error boundary (`Root.main`).

    The boundary turns any exception that is not a `WorktimeError` into "a bug in worktime"
    and exit 1, so an `exit_code == 1` assertion would pass on a crash: the runner fails the
    test instead, unless it says `expect_bug=True`.
    """

    def __init__(self) -> None:
        self._runner = CliRunner()

    def __call__(
        self, *args: str, input: str | bytes | None = None, expect_bug: bool = False
    ) -> Result:
        from worktime_cli.cli.app import app

        result = self._runner.invoke(app, list(args), input=input)
        exception = result.exception if not isinstance(result.exception, SystemExit) else None
        outcome = Result(result.exit_code, result.stdout, result.stderr, exception)
        if not expect_bug and ("a bug in worktime" in outcome.stderr or exception is not None):
            pytest.fail(
                f"worktime {' '.join(args)!r} hit an unexpected exception:\n{outcome.stderr}"
                f"{exception!r}",
                pytrace=False,
            )
        return outcome


@pytest.fixture
def cli() -> Runner:
    return Runner()


# How to get each tool a test may need, for the skip message (Debian package names).
HOW_TO_GET = {
    "chromium": "apt-get install chromium",
    "npm": "apt-get install nodejs npm",
    "node": "apt-get install nodejs",
    "sqlite3": "apt-get install sqlite3",
    "git": "apt-get install git",
    "wrk": "apt-get install wrk",
    "unshare": "apt-get install util-linux",
    "setpriv": "apt-get install util-linux",
}


def require_tool(name: str, why: str) -> str:
    """The path of `name`; skipped locally (saying how to get it), a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true ({why}); .ci/run must install it")
        how = HOW_TO_GET.get(name, f"install {name}")
        pytest.skip(f"{name} not installed ({why}); to run this test: {how}")
    return path


WRANGLER_SCRIPT = REPO / "scripts" / "wrangler.sh"


@pytest.fixture(scope="session")
def wrangler() -> str:
    """The real wrangler 4 launcher (installed by scripts/wrangler.sh, or $WORKTIME_WRANGLER).

    Skipped locally when it cannot be had; under CI=true a missing wrangler fails the test.
    """
    import subprocess

    if path := os.environ.get("WORKTIME_WRANGLER"):
        return path
    how = (
        "install Node.js and npm (Debian: apt-get install nodejs npm), then run scripts/wrangler.sh"
    )
    problem = None
    if shutil.which("npm") is None:
        problem = "npm not installed"
    else:
        import fcntl

        # One install at a time: each xdist worker asks, and npm installs into one folder.
        peers = Path(os.environ.get("WORKTIME_PEERS_DIR") or Path.home() / ".cache/worktime-peers")
        peers.mkdir(parents=True, exist_ok=True)
        with open(peers / ".install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            out = subprocess.run(
                ["bash", str(WRANGLER_SCRIPT)], capture_output=True, text=True, check=False
            )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
        problem = f"scripts/wrangler.sh failed: {out.stderr.strip()[-500:]}"
    if IN_CI:
        pytest.fail(f"wrangler is required under CI=true: {problem}")
    pytest.skip(f"wrangler unavailable: {problem}; to run these tests, {how}")
