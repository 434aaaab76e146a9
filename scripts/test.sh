#!/usr/bin/env bash
# The test command: installs the real CalDAV servers the tests start (Radicale, Xandikos from
# PyPI, into ./.venv; sabre/dav from Debian packages) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/install-test-servers.sh ]; then
  bash scripts/install-test-servers.sh
fi
cargo test --locked
