"""Every hint that names a worktime command names one that exists, with options it takes;
and the hints of the first-hour dead ends, followed literally, get the user unstuck."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from worktime_cli.cli.app import COMMANDS, _load

PACKAGE = Path(__file__).resolve().parents[2] / "worktime_cli"
QUOTED = re.compile(r"`(worktime [^`]*)`")


def quoted_commands() -> list[tuple[str, str]]:
    """(file:line, text) of every `worktime …` the package quotes in a message or hint."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in QUOTED.finditer(line):
                for part in match.group(1).split("&&"):
                    found.append((f"{path.relative_to(PACKAGE)}:{number}", part.strip()))
    return found


def options_of(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def check(text: str) -> None:
    words = text.split()[1:]
    assert words, text
    command: click.Command | None = None
    for word in words:
        if word == "--":  # the rest is a child's command line (`worktime run -- …`)
            break
        children = (
            {name: None for name in COMMANDS}
            if command is None
            else getattr(command, "commands", None)
        )
        if children is not None and not word.startswith("-"):
            if word in ("…", "..."):
                break
            for alternative in word.split("|") if "|" in word else [word]:
                alternative = alternative.split("/")[0] if "/" in alternative else alternative
                assert alternative in children, f"no command {alternative!r} in `{text}`"
            word = word.split("|")[0].split("/")[0]
            command = _load(word) if command is None else command.commands[word]  # type: ignore[attr-defined]
            continue
        if word.startswith("--") and "{" not in word:
            if command is None:  # an option of `worktime` itself
                assert word in ("--help", "--version", "--debug"), text
                continue
            assert word.split("=")[0] in options_of(command) | {"--help"}, (
                f"`{text}`: {word} is not an option of {command.name}"
            )


@pytest.mark.parametrize(("where", "text"), quoted_commands())
def test_a_quoted_command_exists_and_takes_its_options(where, text):
    check(text)


def test_the_check_catches_a_stale_hint():
    with pytest.raises(AssertionError):
        check("worktime d1 snapshot DB")
    with pytest.raises(AssertionError):
        check("worktime d1 migrations apply DB --no-such-flag")


def hinted(stderr: str) -> list[list[str]]:
    """The literal commands in the `hint:` line, in order."""
    hint = next(line for line in stderr.splitlines() if line.startswith("hint: "))
    return [shlex.split(text) for text in QUOTED.findall(hint)]


BARE = (
    'name = "bare"\nmain = "src/index.ts"\n[[d1_databases]]\nbinding = "DB"\n'
    'database_name = "bare-db"\ndatabase_id = "00000000-0000-4000-8000-000000000001"\n'
)


@pytest.mark.parametrize("argv", [["stats", "check"], ["tokens", "list"], ["users", "list"]])
def test_a_project_without_migrations_or_kv_is_unstuck_by_the_hints(
    cli, tmp_path, monkeypatch, argv
):
    """A wrangler.toml with a D1 database and nothing else (no migrations folder, no KV)."""
    root = tmp_path / "bare"
    root.mkdir()
    (root / "wrangler.toml").write_text(BARE)
    monkeypatch.chdir(root)
    for _ in range(3):  # each hint fixes one thing; the command works within three
        done = cli(*argv)
        if done.exit_code == 0:
            break
        assert done.exit_code == 1, done.output
        steps = hinted(done.stderr)
        assert steps, done.stderr
        for step in steps:
            assert step[0] == "worktime"
            followed = cli(*step[1:], "--yes") if step[1:2] == ["init"] else cli(*step[1:])
            assert followed.exit_code == 0, followed.output
    assert done.exit_code == 0, done.output


def test_tokens_with_several_namespaces_says_which_to_name(cli, tmp_path, monkeypatch):
    root = tmp_path / "two"
    root.mkdir()
    (root / "wrangler.toml").write_text(
        BARE
        + '[[kv_namespaces]]\nbinding = "A"\nid = "a1"\n[[kv_namespaces]]\nbinding = "B"\nid = "b1"\n'
    )
    monkeypatch.chdir(root)
    done = cli("tokens", "list")
    assert done.exit_code == 1
    assert (
        'set [vars] GITHUB_TOKEN_KV_BINDING = "BINDING" in wrangler.toml (one of A, B)'
        in done.stderr
    )
