"""The fast tier (`-m "not slow"`) needs no external component: the conftest's check can fail."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import conftest


@pytest.fixture
def components_are_real(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every program named like a component counts as the real one (none need be installed)."""
    monkeypatch.setattr(conftest, "_fake", lambda arg, env: False)


def test_an_unmarked_test_that_starts_a_component_fails(
    request: pytest.FixtureRequest, components_are_real: None
):
    for argv in (
        ["wrangler", "--version"],
        ["/usr/bin/node", "-e", "1"],
        ["npx", "--no", "--", "wrangler", "dev"],
        ["bash", "/somewhere/scripts/wrangler.sh"],
        ["chromium", "--headless"],
        ["wrk", "-t1", "http://127.0.0.1:1/"],
    ):
        with pytest.raises(conftest.UnmarkedComponent, match="not marked slow"):
            subprocess.run(argv, check=False)
    assert len(request.node.stash[conftest._LAUNCHES]) == 6
    request.node.stash[conftest._LAUNCHES] = []  # this test meant to: let it pass


def test_other_programs_are_not_components(components_are_real: None):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    subprocess.run(["true"], check=True)


@pytest.mark.slow
def test_a_marked_test_may_start_one(components_are_real: None):
    with pytest.raises(FileNotFoundError):  # no check raised: the launch itself was tried
        subprocess.run(["wrangler-that-is-not-installed-but-named/wrangler"], check=False)


def test_a_fake_in_the_tests_own_folder_is_not_a_component(tmp_path):
    fake = tmp_path / "npm"
    fake.write_text("#!/bin/sh\necho fake npm\n")
    fake.chmod(0o755)
    out = subprocess.run([str(fake)], capture_output=True, text=True, check=True)
    assert out.stdout == "fake npm\n"


def test_the_component_markers_imply_slow(request: pytest.FixtureRequest):
    items = [i for i in request.session.items if i.get_closest_marker("wrangler")]
    items += [i for i in request.session.items if i.get_closest_marker("secret_service")]
    assert all(i.get_closest_marker("slow") for i in items)
