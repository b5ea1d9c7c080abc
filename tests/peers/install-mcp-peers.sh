#!/usr/bin/env bash
# Installs the MCP servers that Pyra's tests drive as real peers, at pinned versions, from the
# npm registry and PyPI only, into one directory (nothing system-wide):
#
#   DIR/node_modules/.bin/mcp-server-everything   @modelcontextprotocol/server-everything
#   DIR/node_modules/.bin/mcp-server-filesystem   @modelcontextprotocol/server-filesystem
#   DIR/node_modules/.bin/mcp-server-memory       @modelcontextprotocol/server-memory
#   DIR/node_modules/.bin/playwright-mcp          @playwright/mcp (drives the system Chromium,
#                                                 /usr/bin/chromium; downloads no browser)
#   DIR/venv/bin/mcp-server-time                  mcp-server-time (PyPI)
#   DIR/venv/bin/mcp-server-git                   mcp-server-git (PyPI)
#   DIR/venv/bin/mcp-server-fetch                 mcp-server-fetch (PyPI)
#   DIR/venv/bin/python3                          with the Python MCP SDK `mcp` importable
#
# Usage: tests/peers/install-mcp-peers.sh [DIR]   (default: $HOME/.cache/pyra-mcp-peers)
# Tests find the peers through PYRA_MCP_PEERS=DIR. How to start each one:
# tests/fixtures/mcp/README.md.
#
# The pins live beside this script: package.json + package-lock.json (npm, installed with
# `npm ci`, so the servers' own dependencies are pinned too) and requirements.txt (a full
# `pip freeze`). To move a peer to a new release, change its pin there and regenerate the
# lock (`npm install --package-lock-only` in a copy of this folder; `pip freeze` of a fresh
# venv). A second run with the same pins only checks stamps and returns in a second or two.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$HOME/.cache/pyra-mcp-peers}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

digest() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- npm ---------------------------------------------------------------------------------
command -v node >/dev/null || { echo "install-mcp-peers: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-mcp-peers: npm is not installed" >&2; exit 1; }
npm_stamp="$(digest "$here/package.json" "$here/package-lock.json")"
npm_ok=1
for bin in mcp-server-everything mcp-server-filesystem mcp-server-memory playwright-mcp; do
  [ -x "$dir/node_modules/.bin/$bin" ] || npm_ok=0
done
if [ "$npm_ok" = 1 ] && [ "$(cat "$dir/.npm-stamp" 2>/dev/null)" = "$npm_stamp" ]; then
  echo "install-mcp-peers: npm peers already installed in $dir"
else
  echo "install-mcp-peers: installing the npm peers into $dir"
  rm -f "$dir/.npm-stamp"
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  # Playwright would fetch its own browsers at install otherwise; the preset uses the
  # system Chromium.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  echo "$npm_stamp" >"$dir/.npm-stamp"
fi

# --- PyPI --------------------------------------------------------------------------------
command -v python3 >/dev/null || { echo "install-mcp-peers: python3 is not installed" >&2; exit 1; }
venv="$dir/venv"
pip_stamp="$(digest "$here/requirements.txt")"
if ! "$venv/bin/python3" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  # Missing, or left pointing at a Python that is gone: start again.
  rm -rf "$venv" "$dir/.pip-stamp"
  python3 -m venv "$venv"
fi
pip_ok=1
for bin in mcp-server-time mcp-server-git mcp-server-fetch; do
  [ -x "$venv/bin/$bin" ] || pip_ok=0
done
if [ "$pip_ok" = 1 ] && [ "$(cat "$dir/.pip-stamp" 2>/dev/null)" = "$pip_stamp" ]; then
  echo "install-mcp-peers: PyPI peers already installed in $venv"
else
  echo "install-mcp-peers: installing the PyPI peers into $venv"
  rm -f "$dir/.pip-stamp"
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-virtualenv -r "$here/requirements.txt"
  echo "$pip_stamp" >"$dir/.pip-stamp"
fi

# --- what is there -----------------------------------------------------------------------
echo "install-mcp-peers: installed in $dir (PYRA_MCP_PEERS=$dir)"
for pkg in server-everything server-filesystem server-memory; do
  version="$(node -p "require('$dir/node_modules/@modelcontextprotocol/$pkg/package.json').version")"
  printf '  npm  @modelcontextprotocol/%-18s %s\n' "$pkg" "$version"
done
printf '  npm  %-40s %s\n' "@playwright/mcp" "$(node -p "require('$dir/node_modules/@playwright/mcp/package.json').version")"
"$venv/bin/python3" - <<'EOF'
from importlib.metadata import version
for pkg in ("mcp-server-time", "mcp-server-git", "mcp-server-fetch", "mcp"):
    print(f"  pypi {pkg:<40} {version(pkg)}")
EOF
