#!/usr/bin/env bash
# Install Cloudflare's wrangler (a peer for interop tests and benchmarks) and print the path
# of a launcher that runs it. Idempotent; needs node and npm on PATH.
#   WRANGLER=$(scripts/wrangler.sh) && "$WRANGLER" --version
# Env: WORKTIME_PEERS_DIR (default ~/.cache/worktime-peers), WRANGLER_VERSION (default 4.86.0).
set -euo pipefail
version=${WRANGLER_VERSION:-4.86.0}
root=${WORKTIME_PEERS_DIR:-$HOME/.cache/worktime-peers}/wrangler-$version
launcher=$root/wrangler
if [[ ! -x $launcher ]]; then
  command -v npm >/dev/null || { echo "wrangler.sh: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$root"
  (cd "$root" && [[ -f package.json ]] || (cd "$root" && npm init -y >/dev/null))
  (cd "$root" && npm install --no-audit --no-fund --loglevel=error "wrangler@$version" >&2)
  cat >"$launcher" <<LAUNCH
#!/usr/bin/env bash
# wrangler $version without telemetry or update checks
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CI=\${CI:-true}
exec node "$root/node_modules/wrangler/bin/wrangler.js" "\$@"
LAUNCH
  chmod +x "$launcher"
fi
echo "$launcher"
