#!/usr/bin/env bash
# Checks the unit files in systemd/: `systemd-analyze verify` must be silent, and the system
# unit's `systemd-analyze security` exposure must be at most MAX_EXPOSURE (default 2.0).
# Installs systemd (for systemd-analyze) with apt-get when it is missing. Exit 1 on failure.
set -euo pipefail

MAX_EXPOSURE="${MAX_EXPOSURE:-2.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
units="$root/systemd"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found: installing systemd" >&2
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "error: systemd-analyze is missing and cannot be installed here (need root and apt-get)" >&2
        exit 1
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0

# verify checks that ExecStart= is executable, so point it at a stand-in binary. Anything
# verify prints (unknown keys, bad values) counts as a failure: it only warns for those.
run_verify() { # label, then the systemd-analyze arguments
    local label="$1" out
    shift
    if ! out="$("$@" 2>&1)" || [ -n "$out" ]; then
        echo "FAIL verify $label:" >&2
        echo "$out" >&2
        failed=1
    else
        echo "ok   verify $label"
    fi
}

# System unit: ExecStart=/usr/local/bin/calmeet → a stand-in in the temp dir.
mkdir -p "$tmp/system"
printf '#!/bin/sh\nexit 0\n' >"$tmp/system/calmeet"
chmod +x "$tmp/system/calmeet"
sed "s|^ExecStart=/usr/local/bin/calmeet |ExecStart=$tmp/system/calmeet |" \
    "$units/calmeet.service" >"$tmp/system/calmeet.service"
if ! grep -q "^ExecStart=$tmp/system/calmeet " "$tmp/system/calmeet.service"; then
    echo "FAIL: systemd/calmeet.service has no 'ExecStart=/usr/local/bin/calmeet ...' line" >&2
    exit 1
fi
run_verify systemd/calmeet.service systemd-analyze verify "$tmp/system/calmeet.service"

# User unit: ExecStart=%h/.cargo/bin/calmeet, with HOME and a runtime dir in the temp dir.
home="$tmp/home"
mkdir -p "$home/.cargo/bin" "$tmp/run"
chmod 700 "$tmp/run"
printf '#!/bin/sh\nexit 0\n' >"$home/.cargo/bin/calmeet"
chmod +x "$home/.cargo/bin/calmeet"
cp "$units/calmeet-user.service" "$tmp/calmeet.service"
run_verify systemd/calmeet-user.service \
    env HOME="$home" XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user verify "$tmp/calmeet.service"

# Exposure of the system unit (0 = locked down, 10 = unprotected).
report="$(systemd-analyze security --offline=true "$units/calmeet.service" 2>&1)" || true
score="$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for calmeet\.service: \([0-9.]*\).*/\1/p')"
if [ -z "$score" ]; then
    echo "FAIL: no exposure score from systemd-analyze security:" >&2
    echo "$report" >&2
    exit 1
fi
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
    echo "FAIL security systemd/calmeet.service: exposure $score > $MAX_EXPOSURE; open items:" >&2
    printf '%s\n' "$report" | grep '✗' >&2 || true
    failed=1
else
    echo "ok   security systemd/calmeet.service: exposure $score (limit $MAX_EXPOSURE)"
fi

exit "$failed"
