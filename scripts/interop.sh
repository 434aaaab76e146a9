#!/usr/bin/env bash
# Runs the issue #13 interoperability scenario (tests/interop.rs: create and write back, quiet
# second pass, one-request idle poll, edit, 412 race, deletion, no stored line changed but
# calmeet's own) against CalDAV servers from Debian packages, each started on a free loopback
# port with its own throwaway database, then stopped.
#
#   scripts/interop.sh [sogo] [davical] [cyrus]      (default: all that are implemented)
#
# Needs root and apt-get (it installs the packages); meant for CI or a throwaway machine:
# SOGo reads its configuration from /etc/sogo/sogo.conf, which is replaced while it runs and
# restored afterwards. Prints one PASS/FAIL line per server; exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d /tmp/calmeet-interop.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "${pg_data:-}" ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -f /etc/davical/config.php.calmeet-orig ]; then
        mv -f /etc/davical/config.php.calmeet-orig /etc/davical/config.php
    fi
    if [ -f /etc/sogo/sogo.conf.calmeet-orig ]; then
        mv -f /etc/sogo/sogo.conf.calmeet-orig /etc/sogo/sogo.conf
    fi
    if [ -z "${CALMEET_INTEROP_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url seconds
    for _ in $(seq 1 $(( $2 * 5 ))); do
        if curl -s -o /dev/null "$1"; then return 0; fi
        sleep 0.2
    done
    echo "no answer from $1 within $2 s" >&2
    return 1
}
apt_install() {
    if ! dpkg -s "$@" >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    fi
}

# A private PostgreSQL cluster on a free port (SOGo and DAViCal need one).
pg_bin=""
pg_data=""
pg_port=""
postgres_up() {
    [ -n "$pg_data" ] && return 0
    apt_install postgresql
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    pg_data="$work/pg"
    pg_port=$(free_port)
    mkdir -p "$pg_data" && chown postgres: "$pg_data"
    runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/pg.log" -w \
        -o "-h 127.0.0.1 -p $pg_port -k $pg_data" start >/dev/null
}
psql_as() { # user db sql...
    local user=$1 db=$2
    shift 2
    runuser -u postgres -- "$pg_bin/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U "$user" -d "$db" "$@"
}

scenario() { # label url user password
    echo "== $1: cargo test --test interop against $2"
    if [ -n "${CALMEET_INTEROP_HOLD:-}" ]; then
        # For debugging: keep the server up instead of running the scenario.
        echo "holding $1 at $2 for $CALMEET_INTEROP_HOLD s"
        sleep "$CALMEET_INTEROP_HOLD"
        return
    fi
    if RUST_BACKTRACE=0 CALMEET_INTEROP_URL=$2 CALMEET_INTEROP_USER=$3 CALMEET_INTEROP_PASSWORD=$4 \
        cargo test --locked --quiet --test interop -- --nocapture >"$work/$1.out" 2>&1; then
        echo "PASS $1"
    else
        echo "FAIL $1"
        tail -40 "$work/$1.out"
        failed=1
    fi
}

run_sogo() {
    apt_install sogo memcached
    postgres_up
    psql_as postgres postgres -c "CREATE ROLE sogo LOGIN PASSWORD 'sogo'" -c "CREATE DATABASE sogo OWNER sogo"
    psql_as sogo sogo -c "CREATE TABLE sogo_users (c_uid VARCHAR(128) PRIMARY KEY, c_name VARCHAR(128), c_password VARCHAR(128), c_cn VARCHAR(128), mail VARCHAR(128))" \
        -c "INSERT INTO sogo_users VALUES ('alice', 'alice', 's3cret-pass', 'Alice', 'alice@example.org')"
    local mc_port sogo_port db
    mc_port=$(free_port)
    sogo_port=$(free_port)
    memcached -u nobody -l 127.0.0.1 -p "$mc_port" -U 0 &
    pids+=($!)
    db="postgresql://sogo:sogo@127.0.0.1:$pg_port/sogo"
    [ -f /etc/sogo/sogo.conf.calmeet-orig ] || cp /etc/sogo/sogo.conf /etc/sogo/sogo.conf.calmeet-orig
    cat >/etc/sogo/sogo.conf <<EOF
{
  SOGoProfileURL = "$db/sogo_user_profile";
  OCSFolderInfoURL = "$db/sogo_folder_info";
  OCSSessionsFolderURL = "$db/sogo_sessions_folder";
  OCSEMailAlarmsFolderURL = "$db/sogo_alarms_folder";
  OCSStoreURL = "$db/sogo_store";
  OCSAclURL = "$db/sogo_acl";
  OCSCacheFolderURL = "$db/sogo_cache_folder";
  SOGoMemcachedHost = "127.0.0.1:$mc_port";
  SOGoTimeZone = UTC;
  SOGoLanguage = English;
  SOGoMailDomain = example.org;
  SOGoAppointmentSendEMailNotifications = NO;
  SOGoUserSources = (
    {
      type = sql;
      id = users;
      viewURL = "$db/sogo_users";
      canAuthenticate = YES;
      isAddressBook = NO;
      userPasswordAlgorithm = none;
    }
  );
}
EOF
    chmod 644 /etc/sogo/sogo.conf
    mkdir -p "$work/sogo" && chown sogo: "$work/sogo"
    runuser -u sogo -- /usr/sbin/sogod -WONoDetach YES -WOPort "127.0.0.1:$sogo_port" \
        -WOLogFile "$work/sogo/sogo.log" -WOPidFile "$work/sogo/sogo.pid" -WOWorkersCount 1 \
        >"$work/sogo/stdout.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$sogo_port/SOGo/" 60
    local cal="http://127.0.0.1:$sogo_port/SOGo/dav/alice/Calendar/personal/"
    # The first authenticated request creates the user's personal calendar.
    curl -s -o /dev/null -u alice:s3cret-pass -X PROPFIND -H 'Depth: 0' "$cal"
    scenario sogo "$cal" alice s3cret-pass
}

run_davical() {
    apt_install davical php-cli php-pgsql
    postgres_up
    local port pw=s3cret-pass
    port=$(free_port)
    runuser -u postgres -- env PATH="$pg_bin:$PATH" PGHOST=127.0.0.1 PGPORT="$pg_port" \
        /usr/share/davical/dba/create-database.sh davical "$pw" >"$work/davical-db.log" 2>&1
    [ -f /etc/davical/config.php.calmeet-orig ] || cp /etc/davical/config.php /etc/davical/config.php.calmeet-orig
    cat >/etc/davical/config.php <<CONF
<?php
\$c->pg_connect[] = "dbname=davical user=davical_app host=127.0.0.1 port=$pg_port";
\$c->admin_email = 'calendar-admin@example.com';
\$c->system_name = 'calmeet interop';
CONF
    php -S "127.0.0.1:$port" -t /usr/share/davical/htdocs >"$work/davical.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$port/" 30
    local cal="http://127.0.0.1:$port/caldav.php/admin/calendar/"
    # The admin account has no calendar yet.
    curl -s -o /dev/null -u "admin:$pw" -X MKCALENDAR "$cal"
    scenario davical "$cal" admin "$pw"
}

run_cyrus() {
    apt_install cyrus-imapd cyrus-caldav sasl2-bin curl
    local dir="$work/cyrus" http_port imap_port pw=s3cret-pass
    http_port=$(free_port)
    imap_port=$(free_port)
    mkdir -p "$dir/conf" "$dir/spool" "$dir/run/socket" "$dir/run/lock" "$dir/run/proc"
    cat >"$dir/imapd.conf" <<CONF
configdirectory: $dir/conf
partition-default: $dir/spool
defaultpartition: default
proc_path: $dir/run/proc
mboxname_lockpath: $dir/run/lock
lmtpsocket: $dir/run/socket/lmtp
idlesocket: $dir/run/socket/idle
notifysocket: $dir/run/socket/notify
servername: localhost
admins: cyrus
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $dir/sasldb2
sasl_mech_list: PLAIN LOGIN
autocreate_quota: 0
autocreate_post: 1
httpmodules: caldav
caldav_create_default: 1
httpallowcompress: no
CONF
    cat >"$dir/cyrus.conf" <<CONF
START {
  recover cmd="ctl_cyrusdb -C $dir/imapd.conf -r"
}
SERVICES {
  imap cmd="imapd -C $dir/imapd.conf" listen="127.0.0.1:$imap_port" prefork=0
  http cmd="httpd -C $dir/imapd.conf" listen="127.0.0.1:$http_port" prefork=0
}
EVENTS {
}
CONF
    echo "$pw" | saslpasswd2 -p -c -f "$dir/sasldb2" -u localhost alice
    chown -R cyrus:mail "$dir"
    /usr/lib/cyrus/bin/master -C "$dir/imapd.conf" -M "$dir/cyrus.conf" -p "$dir/run/master.pid" -D \
        >"$work/cyrus.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$http_port/" 30
    # Logging in by IMAP creates the user's mailboxes, then the calendar home and its
    # default calendar on the first CalDAV request.
    curl -s -o /dev/null "imap://127.0.0.1:$imap_port/" -u "alice:$pw" || true
    local cal="http://127.0.0.1:$http_port/dav/calendars/user/alice/Default/"
    curl -s -o /dev/null -u "alice:$pw" -X PROPFIND -H 'Depth: 0' "$cal"
    scenario cyrus "$cal" alice "$pw"
}

apt_install curl python3
failed=0
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(sogo davical cyrus)
for s in "${servers[@]}"; do
    case "$s" in
        sogo) run_sogo ;;
        davical) run_davical ;;
        cyrus) run_cyrus ;;
        *) echo "unknown server $s (known: sogo davical cyrus)" >&2; failed=1 ;;
    esac
done
exit $failed
