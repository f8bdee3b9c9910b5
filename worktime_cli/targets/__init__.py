"""The seam between local and remote: one protocol per resource, two implementations each.

Each module here holds the `typing.Protocol` of one resource (a D1 database, a migrations
target, a KV namespace, a secret store). The local implementation lives in the core next to
the storage it touches; the remote one under `worktime_cli.remote`. Both return the same
result types, so a command never asks which one it has: `cli.context` picks it once.
"""
