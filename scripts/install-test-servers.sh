#!/usr/bin/env sh
# Installs the CalDAV servers the integration tests start on 127.0.0.1: Radicale and Xandikos
# into ./.venv at the crate root (PyPI), and sabre/dav from Debian packages (php-cli,
# php-sqlite3, php-sabre-dav, php-sabre-vobject; needs root and apt-get, as on CI).
# Idempotent: re-running only installs what is missing.
# tests/support/dav_server.rs looks for .venv/bin/radicale and .venv/bin/xandikos (or
# $CALMEET_RADICALE / $CALMEET_XANDIKOS, or PATH) and for php ($CALMEET_PHP, or PATH) with
# Sabre/autoload.php on its include path (/usr/share/php).
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
sabre_ok() {
    command -v php >/dev/null 2>&1 &&
        php -r 'exit((@include "Sabre/autoload.php") && extension_loaded("pdo_sqlite") ? 0 : 1);'
}
if ! sabre_ok; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            php-cli php-sqlite3 php-sabre-dav php-sabre-vobject >/dev/null
    else
        echo "sabre/dav missing: run as root: apt-get install php-cli php-sqlite3 php-sabre-dav php-sabre-vobject" >&2
        exit 1
    fi
fi
sabre_ok
echo "test servers ready: $venv/bin/radicale, $venv/bin/xandikos, $(command -v php) with sabre/dav"
