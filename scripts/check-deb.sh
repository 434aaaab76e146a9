#!/usr/bin/env bash
# Builds the Debian package, installs it with dpkg -i on this machine (as root), checks what an
# operator would (calmeet --version, man calmeet, systemd-analyze verify on the installed unit,
# the service neither enabled nor started), then purges it and checks that nothing is left but
# what the operator made (a credential file under /etc/calmeet). Exit 1 on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root (dpkg -i / --purge)" >&2
    exit 1
fi
if dpkg -s calmeet >/dev/null 2>&1; then
    echo "error: a calmeet package is already installed here; not touching it" >&2
    exit 1
fi
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

deb="$(bash "$root/scripts/package-deb.sh" | tail -n 1)"
echo "package: $deb ($(du -h "$deb" | cut -f1))"
ctl="$(mktemp -d)"
trap 'rm -rf "$ctl"' EXIT
dpkg-deb -e "$deb" "$ctl"
# Never start the service before it is configured: no start fragment in postinst (the
# "dont-enable" fragment only re-enables a unit the operator had enabled before an upgrade).
if [ -f "$ctl/postinst" ] && grep -Eq '_dh_action=start|deb-systemd-invoke start' "$ctl/postinst"; then
    fail "postinst starts the service"
fi
grep -q '^/etc/calmeet/config.toml$' "$ctl/conffiles" || fail "config.toml is not a conffile"

DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
files="$(dpkg -L calmeet)"

calmeet --version | grep -q '^calmeet ' || fail "calmeet --version"
MANPAGER=cat MANWIDTH=80 man calmeet 2>/dev/null | grep -q 'calmeet' || fail "man calmeet"
for f in /usr/share/bash-completion/completions/calmeet /usr/share/zsh/vendor-completions/_calmeet \
    /usr/share/fish/vendor_completions.d/calmeet.fish /usr/lib/systemd/user/calmeet.service \
    /etc/calmeet/config.toml; do
    [ -s "$f" ] || fail "$f missing"
done
unit="$(echo "$files" | grep -E '^(/usr)?/lib/systemd/system/calmeet.service$' | head -n 1)"
[ -n "$unit" ] || fail "system unit not installed"
out="$(systemd-analyze verify "$unit" 2>&1)" || fail "systemd-analyze verify $unit: $out"
[ -z "$out" ] || fail "systemd-analyze verify $unit: $out"
if ls /etc/systemd/system/*.wants/calmeet.service >/dev/null 2>&1; then
    fail "the service was enabled by the package"
fi
if grep -Eq '^[[:space:]]*(secret_key|password|token)[[:space:]]*=' /etc/calmeet/config.toml; then
    fail "the conffile holds a secret"
fi
echo "installed and verified: $(calmeet --version), unit $unit"

# What a running service and the operator leave: state (made by the service) and a credential
# (made by the operator).
mkdir -p /var/lib/private/calmeet /etc/calmeet/credentials
touch /var/lib/private/calmeet/calmeet.db
ln -sfn private/calmeet /var/lib/calmeet
echo "operator's secret" >/etc/calmeet/credentials/secret_key

DEBIAN_FRONTEND=noninteractive dpkg --purge calmeet
dpkg -s calmeet >/dev/null 2>&1 && fail "still installed after purge"
left=""
while read -r f; do
    [ -e "$f" ] && [ ! -d "$f" ] && left="$left $f"
done <<<"$files"
[ -z "$left" ] || fail "left after purge:$left"
[ ! -e /var/lib/calmeet ] && [ ! -e /var/lib/private/calmeet ] || fail "state left after purge"
[ -f /etc/calmeet/credentials/secret_key ] || fail "purge removed the operator's credential"
rm -rf /etc/calmeet
echo "purged: nothing left but the operator's credential"
