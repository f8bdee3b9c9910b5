"""Helpers shared by the benchmarks: whole-process timing and ratio lines."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKTIME = [sys.executable, "-m", "worktime_cli"]


@dataclass(frozen=True)
class Figure:
    """One measured goal: ours vs a peer measured in the same run."""

    name: str
    ours: float
    peer: float | None
    peer_name: str
    unit: str = "s"
    goal: str = ""  # e.g. "ratio <= 1.3" or "ours <= 0.3 s"
    ok: bool | None = None

    def line(self) -> str:
        ratio = f"{self.ours / self.peer:.2f}x" if self.peer else "n/a"
        peer = f"{self.peer:.3f} {self.unit}" if self.peer is not None else "not measured"
        verdict = "" if self.ok is None else ("PASS" if self.ok else "FAIL")
        return (
            f"{self.name:<38} ours {self.ours:.3f} {self.unit:<5} {self.peer_name} {peer:<14} "
            f"ratio {ratio:<7} {self.goal:<22} {verdict}"
        )


def time_command(
    argv: Sequence[str],
    *,
    repeat: int = 5,
    cwd: Path | None = None,
    setup: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Median wall time of running `argv` to completion (after an untimed warm-up)."""
    samples = []
    for i in range(repeat + 1):
        if setup is not None:
            setup()
        started = time.perf_counter()
        subprocess.run(
            argv,
            cwd=cwd,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        if i:
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def wrangler() -> str | None:
    """The wrangler launcher from scripts/wrangler.sh, if it can be had."""
    if path := os.environ.get("WORKTIME_WRANGLER"):
        return path
    script = REPO / "scripts" / "wrangler.sh"
    if not script.exists() or shutil.which("npm") is None:
        return None
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None if out.returncode == 0 else None
