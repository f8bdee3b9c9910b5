"""Remote calls, whole process, against the same fake Cloudflare API: worktime vs wrangler 4.

Both tools honour CLOUDFLARE_API_BASE_URL, so each pair does the same HTTP round trips
against tests/support/fake_cloudflare.py on 127.0.0.1: this measures the tools' own cost
(start-up, client, envelope handling), not Cloudflare. Both sides run their real CLI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import WORKTIME, Figure, time_command, wrangler


def run() -> list[Figure]:
    from tests.support.fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare

    peer = wrangler()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "wrangler.toml").write_text('name = "bench"\n')
        data = root / "fake"
        data.mkdir()
        fake = FakeCloudflare(data).start()
        try:
            for i in range(5):
                fake.add_database(f"db-{i}")
            ns = fake.add_namespace("bench-KV")
            env = {
                "CLOUDFLARE_API_BASE_URL": fake.url,
                "CLOUDFLARE_API_TOKEN": TOKEN,
                "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
                "WRANGLER_SEND_METRICS": "false",
            }
            figures = []
            pairs = [
                (
                    "d1 list --remote",
                    [*WORKTIME, "d1", "list", "--remote", "--json"],
                    [peer, "d1", "list", "--json"] if peer else None,
                ),
                (
                    "kv key put --remote",
                    [
                        *WORKTIME,
                        "kv",
                        "key",
                        "put",
                        "--remote",
                        "--namespace-id",
                        ns,
                        "a/b",
                        "hello",
                    ],
                    [peer, "kv", "key", "put", "--remote", "--namespace-id", ns, "a/b", "hello"]
                    if peer
                    else None,
                ),
            ]
            for name, ours_argv, peer_argv in pairs:
                ours = time_command(ours_argv, cwd=root, env=env)
                theirs = time_command(peer_argv, cwd=root, env=env, repeat=3) if peer_argv else None
                figures.append(
                    Figure(
                        name=name,
                        ours=ours,
                        peer=theirs,
                        peer_name="wrangler",
                        goal="ratio <= 0.5",
                        ok=None if theirs is None else ours / theirs <= 0.5,
                    )
                )
            return figures
        finally:
            fake.stop()
