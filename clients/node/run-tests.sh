#!/bin/sh
# Build and test the Node.js client (clients/node): installs Node.js with apt-get
# when missing and running as root (otherwise skips, saying so), then `npm ci`,
# `tsc`, and Node's own test runner (vectors + interop against `mux serve`).
# MUX_PYTHON: the Python that runs `mux serve` (default: the checkout's .venv/bin/python).
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "node-client: installing nodejs and npm with apt-get"
    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "node-client: SKIPPED: node/npm missing and cannot install them (needs root and apt-get)"
    exit 0
  fi
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "node-client: SKIPPED: Node.js $(node --version) is older than the required 20" \
       "(Debian 12's own nodejs is 18: install Node.js 20+, e.g. from NodeSource)"
  exit 0
fi
echo "node-client: node $(node --version), npm $(npm --version): npm ci, build, test"
npm ci --no-audit --no-fund --loglevel=error
npx tsc -p tsconfig.json
exec node --test --test-reporter=spec test/*.test.mjs
