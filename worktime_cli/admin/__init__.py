"""The backend's own data: daily_stats, sessions, users, GitHub tokens, reports, demo data.

Everything here works on two small protocols (`targets.Database`, `targets.Namespace`), so the
same code runs on the local D1/KV files and, through the CLI context, on Cloudflare's API.
Work that must be atomic is sent as one `batch` (one transaction locally, one `/query`
request remotely); the SQL is the same on both sides.
"""
