#!/usr/bin/env bash
# Builds the Debian package with `cargo deb` (metadata: [package.metadata.deb] in Cargo.toml).
# Generates at build time, from the release binary itself: the man page, bash/zsh/fish
# completions, and the units with ExecStart= at /usr/bin/calmeet. Installs cargo-deb with
# `cargo install --locked cargo-deb` when it is missing (81 s of CPU; 5 min 45 s wall on the
# shared 2-core machine, see TESTING.md). Prints the path of the .deb on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo deb --version >/dev/null 2>&1; then
    echo "cargo-deb not found: installing it (cargo install --locked cargo-deb)" >&2
    cargo install --locked cargo-deb >&2
fi

cargo build --release --locked >&2
bin="$root/target/release/calmeet"
assets="$root/target/deb-assets"
rm -rf "$assets"
mkdir -p "$assets/system" "$assets/user"

# The release profile keeps line tables (for backtraces in tests); the package ships the
# binary without them (about 80 MB -> a few MB).
strip --strip-debug -o "$assets/calmeet" "$bin"
"$bin" man | gzip -9n >"$assets/calmeet.1.gz"
"$bin" completions bash >"$assets/calmeet.bash"
"$bin" completions zsh >"$assets/_calmeet"
"$bin" completions fish >"$assets/calmeet.fish"
# The shipped units point at hand-installed paths; the package's binary is /usr/bin/calmeet.
sed 's#^ExecStart=/usr/local/bin/calmeet #ExecStart=/usr/bin/calmeet #' \
    systemd/calmeet.service >"$assets/system/calmeet.service"
sed 's#^ExecStart=%h/.cargo/bin/calmeet #ExecStart=/usr/bin/calmeet #' \
    systemd/calmeet-user.service >"$assets/user/calmeet.service"
for unit in "$assets/system/calmeet.service" "$assets/user/calmeet.service"; do
    if ! grep -q '^ExecStart=/usr/bin/calmeet ' "$unit"; then
        echo "error: $unit: ExecStart= was not rewritten to /usr/bin/calmeet" >&2
        exit 1
    fi
done
# The conffile is the example, which must hold no secret.
if grep -Eq '^[[:space:]]*(secret_key|password|token)[[:space:]]*=' config.toml.example; then
    echo "error: config.toml.example sets a secret inline; it becomes /etc/calmeet/config.toml" >&2
    exit 1
fi

cargo deb --no-build >&2
ls -t "$root"/target/debian/calmeet_*.deb | head -n 1
