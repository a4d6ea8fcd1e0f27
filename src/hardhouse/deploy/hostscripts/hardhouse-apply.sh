#!/bin/sh
# hardhouse-apply: validate, activate and roll back hardhouse's ClickHouse files on this host.
# Installed and run by the hardhouse pyinfra deploy (hardhouse.deploy); edits are overwritten.
#
#   hardhouse-apply validate
#       Check the staged files before they go live: every file readable by the server user,
#       ClickHouse's own config parser merges them with the stock config.xml/users.xml, and
#       the TLS certificate parses, is in date and matches its private key.
#   hardhouse-apply activate restart|reload|start TIMEOUT TARGET...
#       Back up the live files, put the staged ones in place, restart (config.d or TLS
#       changed), wait for the users reload (users.d only) or start the server, and wait up to
#       TIMEOUT seconds until every TARGET is healthy. TARGET is tls:HOST:PORT (answers a TLS
#       handshake with the new certificate) or tcp:HOST:PORT (accepts connections).
#       When it is not healthy: restore the backup, restart, and exit 1 with the reason.
#
# Staged files live in $STATE/staged with their final owner and mode; $STATE/staged/MANIFEST
# lists them, one "KIND STAGED_PATH LIVE_PATH" per line (KIND: config, users, certificate,
# private_key, ca_certificate; STAGED_PATH relative to $STATE/staged).
set -u

STATE=$(cd "$(dirname "$0")/.." && pwd)
CONF=${HARDHOUSE_CONF:-/etc/clickhouse-server}
DATA=${HARDHOUSE_DATA:-/var/lib/clickhouse}
ERRLOG=${HARDHOUSE_ERRLOG:-/var/log/clickhouse-server/clickhouse-server.err.log}
SERVER_USER=${HARDHOUSE_SERVER_USER:-clickhouse}
SERVICE=${HARDHOUSE_SERVICE:-clickhouse-server}
STAGED=$STATE/staged
MANIFEST=$STAGED/MANIFEST
PREV=$STATE/previous
LIVE_TARGETS=$STATE/live-targets
MARKER=$STATE/activated-at

say() { printf 'hardhouse: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# The path of the first manifest entry of a kind ("staged" or "live" side), or nothing.
manifest_path() {
    awk -v kind="$1" -v side="$2" '$1 == kind { print (side == "staged" ? $2 : $3); exit }' "$MANIFEST"
}

readable_by_server() {
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$SERVER_USER" -- test "$1" "$2"
    else
        su -s /bin/sh "$SERVER_USER" -c "test $1 '$2'"
    fi
}

# ClickHouse's own parser merges FILE with FILE's .d directory (and conf.d). Modern servers
# ship extract-from-config; 18.16 has none, but its client loads --config-file through the
# same ConfigProcessor and only then tries to connect (to a port nothing listens on).
clickhouse_merges() {
    if command -v clickhouse >/dev/null 2>&1 && clickhouse extract-from-config --help >/dev/null 2>&1; then
        clickhouse extract-from-config --try --config-file="$1" --key=path 2>&1 >/dev/null
        return $?
    fi
    out=$(cd /tmp && timeout 30 clickhouse-client --config-file="$1" --compression 0 --host 127.0.0.1 --port 1 --query 'SELECT 1' </dev/null 2>&1)
    case $out in
        *"Code: 210"*) return 0 ;;  # config parsed and merged; the connection was refused as intended
    esac
    printf '%s\n' "$out" | grep -v '^Include not found' | tail -n 3
    return 1
}

validate() {
    [ -f "$MANIFEST" ] || die "nothing is staged ($MANIFEST is missing)"
    problems=$(mktemp)
    candidate=$(mktemp -d)
    trap 'rm -rf "$candidate" "$problems"' EXIT

    while read -r kind staged live; do
        [ -n "$kind" ] || continue
        file=$STAGED/$staged
        if [ ! -f "$file" ]; then
            echo "$live: not staged" >>"$problems"
            continue
        fi
        readable_by_server -r "$file" || echo "$live: not readable by $SERVER_USER ($(stat -c '%U:%G %a' "$file"))" >>"$problems"
        dir=$(dirname "$live")
        if [ ! -d "$dir" ]; then
            echo "$dir: directory does not exist" >>"$problems"
        elif ! readable_by_server -x "$dir"; then
            echo "$dir: $SERVER_USER cannot enter it ($(stat -c '%U:%G %a' "$dir"))" >>"$problems"
        fi
    done <"$MANIFEST"

    # The configuration as the server would load it: the stock files, everyone else's
    # config.d/users.d files as they are live now, and hardhouse's staged ones.
    for name in config users; do
        [ -f "$CONF/$name.xml" ] || { echo "$CONF/$name.xml: missing (is ClickHouse installed?)" >>"$problems"; continue; }
        cp "$CONF/$name.xml" "$candidate/"
        mkdir -p "$candidate/$name.d"
        for file in "$CONF/$name.d"/*.xml "$CONF/$name.d"/*.conf; do
            [ -f "$file" ] || continue
            case $(basename "$file") in zz-hardhouse-*) continue ;; esac
            cp "$file" "$candidate/$name.d/"
        done
        for file in "$STAGED/$name.d"/*.xml; do
            [ -f "$file" ] && cp "$file" "$candidate/$name.d/"
        done
    done
    [ -d "$CONF/conf.d" ] && cp -r "$CONF/conf.d" "$candidate/"
    for name in config users; do
        [ -f "$candidate/$name.xml" ] || continue
        if ! reason=$(clickhouse_merges "$candidate/$name.xml"); then
            echo "ClickHouse cannot load $name.xml with the new files: $(printf '%s' "$reason" | sed "s|$candidate|$CONF|g" | tr '\n' ' ')" >>"$problems"
        fi
    done

    cert=$(manifest_path certificate staged)
    key=$(manifest_path private_key staged)
    if [ -n "$cert" ] && [ -n "$key" ]; then
        live_cert=$(manifest_path certificate live)
        live_key=$(manifest_path private_key live)
        if ! openssl x509 -in "$STAGED/$cert" -noout 2>/dev/null; then
            echo "$live_cert: not a PEM certificate" >>"$problems"
        elif ! openssl pkey -in "$STAGED/$key" -noout -passin pass: 2>/dev/null; then
            echo "$live_key: not an unencrypted PEM private key" >>"$problems"
        else
            cert_pub=$(openssl x509 -in "$STAGED/$cert" -noout -pubkey | openssl sha256)
            key_pub=$(openssl pkey -in "$STAGED/$key" -pubout | openssl sha256)
            [ "$cert_pub" = "$key_pub" ] || echo "the certificate $live_cert does not match the private key $live_key" >>"$problems"
            openssl x509 -in "$STAGED/$cert" -noout -checkend 0 >/dev/null ||
                echo "$live_cert: expired ($(openssl x509 -in "$STAGED/$cert" -noout -enddate))" >>"$problems"
        fi
    fi
    ca=$(manifest_path ca_certificate staged)
    if [ -n "$ca" ] && ! openssl x509 -in "$STAGED/$ca" -noout 2>/dev/null; then
        echo "$(manifest_path ca_certificate live): not a PEM certificate" >>"$problems"
    fi

    if [ -s "$problems" ]; then
        say "validation failed; nothing went live:"
        awk '!seen[$0]++ { print "  - " $0 }' "$problems" >&2
        exit 1
    fi
    echo "hardhouse: staged configuration is valid ($(grep -c . "$MANIFEST") files)"
}

# Every live path hardhouse manages now or will manage: the manifest's and any earlier file.
managed_paths() {
    awk '{ print $3 }' "$MANIFEST"
    ls -1d "$CONF"/config.d/zz-hardhouse-*.xml "$CONF"/users.d/zz-hardhouse-*.xml 2>/dev/null
}

backup() {
    rm -rf "$PREV.new"
    mkdir -p "$PREV.new/files"
    managed_paths | sort -u >"$PREV.new/PATHS"
    while read -r path; do
        [ -e "$path" ] || continue
        mkdir -p "$PREV.new/files$(dirname "$path")"
        cp -p "$path" "$PREV.new/files$path"
    done <"$PREV.new/PATHS"
    [ -f "$LIVE_TARGETS" ] && cp -p "$LIVE_TARGETS" "$PREV.new/targets"
    rm -rf "$PREV"
    mv "$PREV.new" "$PREV"
}

# Replace one file atomically (write beside it, rename over it); the .hardhouse-new name is
# not *.xml, so ClickHouse never reads a half-written file.
replace() {
    cp -p "$1" "$2.hardhouse-new" && mv -f "$2.hardhouse-new" "$2"
}

install_staged() {
    while read -r kind staged live; do
        [ -n "$kind" ] || continue
        replace "$STAGED/$staged" "$live" || return 1
    done <"$MANIFEST"
    for path in "$CONF"/config.d/zz-hardhouse-*.xml "$CONF"/users.d/zz-hardhouse-*.xml; do
        [ -f "$path" ] || continue
        awk -v p="$path" '$3 == p { found = 1 } END { exit !found }' "$MANIFEST" || rm -f "$path"
    done
}

restore() {
    while read -r path; do
        if [ -e "$PREV/files$path" ]; then
            replace "$PREV/files$path" "$path"
        else
            rm -f "$path"
        fi
    done <"$PREV/PATHS"
}

service_do() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl "$1" "$SERVICE"
    elif [ -x "/etc/init.d/$SERVICE" ]; then
        "/etc/init.d/$SERVICE" "$1" >/dev/null
    else
        die "cannot $1 $SERVICE: neither systemd nor /etc/init.d/$SERVICE is there"
    fi
}

running() { pidof clickhouse-server >/dev/null 2>&1 || pidof clickhouse >/dev/null 2>&1; }

server_pids() { pidof clickhouse-server 2>/dev/null || pidof clickhouse 2>/dev/null; }

# Wait up to $1 seconds for every server process to exit.
wait_gone() {
    waited=0
    while running; do
        [ "$waited" -ge "$(($1 * 5))" ] && return 1
        sleep 0.2
        waited=$((waited + 1))
    done
}

# systemd restarts reliably. Debian's SysV script finds the server with start-stop-daemon
# --exec, which cannot read /proc/PID/exe where ptrace is not allowed (containers), and then
# "restarts" by starting a second server that dies on the lock of the first: so stop it
# ourselves when the script did not, by pid, TERM then KILL, before starting again.
restart_server() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl restart "$SERVICE"
        return
    fi
    stop_server
    service_do start
}

stop_server() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl stop "$SERVICE"
        return
    fi
    service_do stop
    # start-stop-daemon waits for what it stops, so anything left was never matched.
    wait_gone 2 && return 0
    # shellcheck disable=SC2046
    kill $(server_pids) 2>/dev/null
    wait_gone 30 && return 0
    # shellcheck disable=SC2046
    kill -9 $(server_pids) 2>/dev/null
    wait_gone 5
}

fingerprint_of_file() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }

target_ok() {
    kind=${1%%:*}
    rest=${1#*:}
    port=${rest##*:}
    host=${rest%:*}
    case $host in *:*) address="[$host]:$port" ;; *) address="$host:$port" ;; esac
    if [ "$kind" = tls ]; then
        served=$(timeout 5 openssl s_client -connect "$address" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
        [ -n "$served" ] && { [ -z "$WANT_FINGERPRINT" ] || [ "$served" = "$WANT_FINGERPRINT" ]; }
    else
        timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
    fi
}

# Lines the server wrote to its error log since this activation began.
new_errors() {
    [ -f "$ERRLOG" ] || return 0
    tail -c "+$((ERRLOG_OFFSET + 1))" "$ERRLOG" 2>/dev/null | grep -E '<Error>|Exception' | sed 's/^[0-9.: ]*\[ *[0-9]* *\] {[^}]*} //' | tail -n 3
}

# Wait until healthy; on failure leave the reason in $REASON.
wait_healthy() {
    mode=$1
    timeout=$2
    shift 2
    deadline=$(($(date +%s) + timeout))
    gone=0
    while :; do
        pending=""
        if running; then
            gone=0
        else
            gone=$((gone + 1))
            pending="the server process"
        fi
        if [ "$mode" = reload ] && [ -z "$(find "$DATA/preprocessed_configs/users.xml" -newer "$MARKER" 2>/dev/null)" ]; then
            pending="$pending${pending:+, }the users reload"
        fi
        for target in "$@"; do
            target_ok "$target" || pending="$pending${pending:+, }${target#*:}"
        done
        [ -z "$pending" ] && return 0
        fatal=$(new_errors | grep -E 'Cannot assign requested address|Address already in use|No servers started|Cannot lock file|SSL|certificate|private key|Error updating configuration' | tail -n 1)
        if [ -n "$fatal" ] && [ "$mode" != reload ] || [ "$gone" -ge 10 ] || [ "$(date +%s)" -ge "$deadline" ]; then
            REASON="not healthy (waiting for: $pending)"
            errors=$(new_errors | tr '\n' ' ')
            [ -n "$errors" ] && REASON="$REASON; the server logged: $errors"
            return 1
        fi
        sleep 0.5
    done
}

activate() {
    [ $# -ge 3 ] || die "usage: hardhouse-apply activate restart|reload|start TIMEOUT TARGET..."
    mode=$1
    timeout=$2
    shift 2
    [ -f "$MANIFEST" ] || die "nothing is staged ($MANIFEST is missing)"
    was_running=no
    running && was_running=yes
    ERRLOG_OFFSET=$(stat -c %s "$ERRLOG" 2>/dev/null || echo 0)
    WANT_FINGERPRINT=""
    cert=$(manifest_path certificate staged)
    [ -n "$cert" ] && WANT_FINGERPRINT=$(fingerprint_of_file "$STAGED/$cert")

    backup || die "could not back up the live files into $PREV; nothing changed"
    touch "$MARKER"
    sleep 1  # the users reload is seen by mtime (1 s resolution on some file systems)
    if ! install_staged; then
        restore
        die "could not put the staged files in place; the previous files were restored"
    fi
    case $mode in
        restart) restart_server ;;
        start) service_do start ;;
        reload) ;;  # ClickHouse re-reads users.xml and users.d by itself
        *) restore; die "unknown mode $mode" ;;
    esac
    if wait_healthy "$mode" "$timeout" "$@"; then
        printf '%s\n' "$@" >"$LIVE_TARGETS"
        case $mode in
            reload) echo "hardhouse: users reloaded without a restart; healthy on $*" ;;
            *) echo "hardhouse: ClickHouse ${mode}ed with the new configuration; healthy on $*" ;;
        esac
        return 0
    fi

    failure=$REASON
    say "the new configuration is $failure"
    say "rolling back to the previous files"
    restore
    ERRLOG_OFFSET=$(stat -c %s "$ERRLOG" 2>/dev/null || echo 0)
    WANT_FINGERPRINT=""
    live_cert=$(manifest_path certificate live)
    [ -n "$live_cert" ] && [ -f "$live_cert" ] && WANT_FINGERPRINT=$(fingerprint_of_file "$live_cert")
    if [ "$was_running" = yes ]; then
        restart_server
        # shellcheck disable=SC2046
        if wait_healthy restart "$timeout" $(cat "$PREV/targets" 2>/dev/null); then
            die "rolled back: the previous configuration is serving again. Reason: the new configuration was $failure"
        fi
        die "ROLLBACK FAILED: the previous configuration is $REASON. Reason for the rollback: the new configuration was $failure"
    fi
    stop_server >/dev/null 2>&1
    die "rolled back: the previous files are restored and the server is stopped, as it was. Reason: the new configuration was $failure"
}

case ${1:-} in
    validate) validate ;;
    activate) shift; activate "$@" ;;
    *) die "usage: hardhouse-apply validate | activate restart|reload|start TIMEOUT TARGET..." ;;
esac
