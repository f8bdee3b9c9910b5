"""worktime: admin CLI for the worktime Cloudflare Worker (local D1, KV, secrets, dev server)."""

__version__ = "0.1.0"
