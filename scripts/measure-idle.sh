#!/usr/bin/env bash
# Measures `calmeet run` between passes: resident memory and CPU time used while idle.
# Usage: scripts/measure-idle.sh   (builds the release binary; needs no network or credentials:
# the example calendar is read with a tag rule that matches nothing, so no API call is made).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/config.toml" <<CFG
schedule = "0 0 0 1 1 *"
state_db = "$dir/state.db"
[meeting]
app_id = "1"
secret_id = "id"
userid = "alice"
[[calendar]]
name = "team"
url = "$PWD/examples/team.ics"
kind = "ics"
[calendar.match]
keywords = ["no-event-has-this-tag"]
CFG
CALMEET_SECRET_KEY=unused target/release/calmeet --config "$dir/config.toml" --log-format human run 2>"$dir/log" &
pid=$!
sleep 3
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t1=$(ticks)
sleep 10
t2=$(ticks)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "idle RSS: $((rss / 1024)) MiB ($rss KiB); peak RSS: $((hwm / 1024)) MiB ($hwm KiB)"
echo "CPU used while idle for 10 s: $((t2 - t1)) clock ticks ($(getconf CLK_TCK) per second)"
kill -TERM "$pid"; wait "$pid" && echo "stopped cleanly (exit 0)"
