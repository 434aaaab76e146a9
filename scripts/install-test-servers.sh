#!/usr/bin/env sh
# Installs the CalDAV servers the integration tests start on 127.0.0.1 (Radicale, Xandikos)
# into ./.venv at the crate root. Idempotent: re-running only upgrades what is missing.
# tests/support/dav_server.rs looks for .venv/bin/radicale and .venv/bin/xandikos (or
# $CALMEET_RADICALE / $CALMEET_XANDIKOS, or PATH).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ ! -x "$venv/bin/radicale" ] || [ ! -x "$venv/bin/xandikos" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check radicale xandikos
fi
"$venv/bin/radicale" --version >/dev/null
"$venv/bin/xandikos" --version >/dev/null
echo "test servers ready: $venv/bin/radicale, $venv/bin/xandikos"
