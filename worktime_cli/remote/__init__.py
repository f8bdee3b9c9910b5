"""Cloudflare's REST API: the `--remote` variants of the D1, KV and secret commands.

`client` holds the one HTTP client (auth, envelope, retries, pagination); each other module
is a small set of functions that take a `Client`, return frozen dataclasses and raise
`RemoteError`. Nothing here prints. httpx is imported only by `client`, which is itself only
imported by commands that run with `--remote`.
"""
