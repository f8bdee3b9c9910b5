"""Local development: the dev server, the real Worker, typegen, init and doctor.

- the dev server: `server` (uvicorn's serve loop), `app` (the Starlette app and its routes),
  `bindings` (local D1, KV and the environment; readiness), `edge` (Host check, CORS, the
  /health fast path), `host_policy` (which Host names it answers), `dashboard` (the report
  page), `request_log` (one safe line per request), `listener` (--ip and the bound socket),
  `reloader` (watch the files, swap the bindings);
- the real Worker: `worker` (find wrangler, check Node.js and `main`, the argv), `worker_env`
  (the child's environment), `runner` (run a child: process group, signals, exit codes);
- `typegen` (write or check the .d.ts), `typegen_env` (the `Env` members), `typegen_rows`
  (row types from the migrations);
- `scaffold` and `scaffold_files/` (`worktime init`), `toolchain` (Node.js and wrangler
  versions), `doctor` and `doctor_d1` (`worktime doctor`'s checks).
"""
