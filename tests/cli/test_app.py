from __future__ import annotations

import subprocess
import sys

from worktime_cli import __version__


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"worktime {__version__}\n"


def test_help_imports_only_typer_and_rich():
    code = (
        "import sys\n"
        "sys.argv = ['worktime', '--help']\n"
        "from worktime_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'sqlite_utils', 'tomlkit', 'httpx', 'keyring', 'uvicorn', 'starlette', 'dotenv', 'sqlite3'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
