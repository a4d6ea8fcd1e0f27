#!/bin/bash
# hardhouse-apply: validate, activate and roll back hardhouse's files of one service on this
# host: ClickHouse's, or ZooKeeper's (the contract's HH_PROFILE says which; each service's own
# steps are its profile, lib/apply-clickhouse.sh and lib/apply-zookeeper.sh). Installed and run
# (as root) by the hardhouse pyinfra deploy (hardhouse.deploy) as STATE/bin/hardhouse-apply,
# with the contract block below filled in from hardhouse/deploy/contract.py; edits are
# overwritten. Bash: the health check uses /dev/tcp.
#
#   hardhouse-apply validate
#       Check the staged files before they go live: every directory a live file goes to owned
#       by root and not writable by group or others, and the profile's checks. ClickHouse:
#       every file readable by the server user, ClickHouse's own config parser merges them with
#       the stock config.xml/users.xml, and the TLS certificate parses, is in date and matches
#       its private key. ZooKeeper: its files readable by the zookeeper user, zoo.cfg names a
#       client port and a data directory, myid is a server id.
#   hardhouse-apply activate restart|reload|start TIMEOUT [--hold TOKEN] TARGET...
#       Back up the live files, put the staged ones in place, restart (config.d or TLS
#       changed; ZooKeeper: always), wait for the users reload (users.d only) or start the
#       server, and wait up to TIMEOUT seconds until every TARGET is healthy. TARGET is
#       tls:ADDRESS:PORT (answers a TLS handshake with the new certificate), tcp:ADDRESS:PORT
#       (accepts connections) or, for ZooKeeper, ruok:ADDRESS:PORT (answers ruok with imok),
#       ADDRESS an IPv4 or IPv6 literal. When it is not healthy: restore the backup, restart,
#       and exit 1 with the reason ("rolled back: ..." or "ROLLBACK FAILED: ...").
#       With --hold TOKEN the activation is held for the deploy's verification: the rollback
#       set keeps its private key and `rollback` with the same TOKEN may still undo it.
#   hardhouse-apply rollback TIMEOUT TOKEN
#       Undo the held activation of this deploy run (TOKEN must match): put the rollback set
#       back, restart, and wait until the previous targets are healthy. Refused, with nothing
#       touched, when no activation is held under TOKEN or the previous set was not a
#       configuration hardhouse had brought up healthy (the stock one is not restored).
#   Exit status: 0 done, 1 refused or rolled back (the reason on stderr), 2 usage.
#
# The contract (HH_* below; the Python side writes what this script reads; names here are
# the contract's current values):
#   STATE is this script's parent's parent. STATE/staged holds the staged files with their
#   final owner and mode, and STATE/staged/MANIFEST lists them, one "KIND STAGED_PATH
#   LIVE_PATH" per line: KIND one of HH_MANIFEST_KINDS; STAGED_PATH relative to the staged
#   dir; LIVE_PATH absolute; no path with whitespace, quotes, $, \, ` or a ".." component.
#   The profile says where each kind may go live. ClickHouse: config and users files go live
#   as CONF/config.d|users.d/zz-hardhouse-*.xml; any other zz-hardhouse-*.xml there is an
#   earlier file of hardhouse's and is removed. ZooKeeper: each of its three kinds once, at
#   its fixed place (HH_ZK_CONFIG, HH_ZK_JVM_DEFAULTS, HH_ZK_MYID).
#   Every value from outside (arguments, MANIFEST, environment) is checked before anything
#   changes; anything unexpected is refused, with nothing touched.
#
# Files and the rollback set:
#   A file goes live through a fresh temporary file (mktemp, a random name that is not *.xml)
#   in the target directory, renamed over the live path: nothing is ever written through a
#   symbolic link, and ClickHouse never reads a half-written file. Live paths that are links
#   are refused, and so are directories (or their parents) that someone other than root owns
#   or that group or others may write: they could swap a file or plant a link there.
#   STATE/previous holds ONE rollback set: the files that were live before the last activation
#   (directory 0700 root, files 0600, INDEX with each file's owner and mode). After a rollback
#   those files are live again and nothing of the new set stays live. After a successful
#   activation the private keys in it (the retired key) are deleted at once; the rest stays
#   until the next activation replaces the set. The staged set is the deploy's: left as it is.
#   One run at a time per STATE (flock on STATE/.lock).
#
# Stopping: systemd stops ClickHouse itself. Debian's SysV scripts find their server with
# start-stop-daemon --exec, which cannot read /proc/PID/exe where ptrace is not allowed
# (containers): whatever they leave running is stopped by pid, TERM then KILL (at once where
# that link is hidden from us too, as the script then stopped nothing). zookeeperd ships
# only such a script, and under systemd, systemd-sysv-generator makes a unit of it with
# KillMode=process, GuessMainPID=no and no PIDFile: systemd knows no main process and stops
# nothing itself, it runs the same init script, and a plain `systemctl restart` leaves the old
# JVM serving the old configuration and answering ruok (seen on a systemd sandbox host). So
# ZooKeeper is stopped, then its JVM (named by the pidfile, only if the zookeeper user owns it)
# by pid, then started (systemd reloaded first), under either service manager.
#
# Environment (tests and unusual hosts): HARDHOUSE_SERVER_USER, HARDHOUSE_SERVICE,
# HARDHOUSE_SYSTEMD_DIR (/run/systemd/system; when it exists, systemctl runs the service),
# HARDHOUSE_INIT_DIR (/etc/init.d, the SysV script); ClickHouse's profile: HARDHOUSE_CONF (its
# config dir), HARDHOUSE_DATA (its data dir: preprocessed_configs shows a users reload),
# HARDHOUSE_ERRLOG; ZooKeeper's: HARDHOUSE_ZK_LOG (the log whose errors a failure shows).
set -u
# Everything this script creates is root's alone; the server gets the caller's umask back.
CALLER_UMASK=$(umask)
CALLER_NAME=$(id -un)
umask 077

# @hardhouse-contract-begin@
HH_CONTRACT=
HH_PROFILE=
HH_FILE_PREFIX=
HH_SERVER_USER=
HH_SERVICE=
HH_SERVER_PROCESSES=()
HH_CONFIG_DIR=
HH_DATA_DIR=
HH_ERROR_LOG=
HH_BIN_DIR=
HH_STAGED_DIR=
HH_PREVIOUS_DIR=
HH_MANIFEST=
HH_LIVE_TARGETS=
HH_ACTIVATED_AT=
HH_LOCK=
HH_HELD=
HH_HOLD_FLAG=
HH_HOLD_TOKEN_HEX_DIGITS=
HH_MANIFEST_FORMAT=()
HH_MANIFEST_KINDS=()
HH_KIND_CONFIG=
HH_KIND_USERS=
HH_KIND_CERTIFICATE=
HH_KIND_PRIVATE_KEY=
HH_KIND_CA_CERTIFICATE=
HH_KIND_KEYS=
HH_KIND_KEYS_HOOK=
HH_HEALTH_KINDS=()
HH_HEALTH_TLS=
HH_HEALTH_TCP=
HH_HEALTH_RUOK=
HH_MODES=()
HH_MODE_RESTART=
HH_MODE_RELOAD=
HH_MODE_START=
HH_UNSAFE_PATH_CHARS=
HH_KIND_ZK_CONFIG=
HH_KIND_ZK_DEFAULTS=
HH_KIND_ZK_MYID=
HH_ZK_CONFIG=
HH_ZK_JVM_DEFAULTS=
HH_ZK_MYID=
HH_ZK_PIDFILE=
HH_ZK_LOG=
HH_ZK_LIVE_STAMP=
# @hardhouse-contract-end@

say() { printf 'hardhouse: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() {
    local modes
    [ $# -eq 0 ] || say "$*"
    modes=$(IFS='|' && printf '%s' "${HH_MODES[*]}")
    say "usage: hardhouse-apply validate | activate $modes TIMEOUT [$HH_HOLD_FLAG TOKEN] TARGET... | rollback TIMEOUT TOKEN"
    exit 2
}
# A value from outside, shown unambiguously (no control characters reach the terminal).
shown() {
    if [[ $1 =~ ^[A-Za-z0-9_./:@%+=,-]+$ ]]; then printf '%s' "$1"; else printf '%s' "${1@Q}"; fi
}
# Problems are collected, then reported together: "HEADLINE:" and one "  - " line each.
report() {
    local headline=$1
    shift
    say "$headline:"
    printf '%s\n' "$@" | awk '!seen[$0]++ { print "  - " $0 }' >&2
}

if [ -z "$HH_CONTRACT" ]; then
    say "this is hardhouse-apply's source without its contract header; the deploy ships it" \
        "with the header filled in (hardhouse.deploy.payloads.apply_script)"
    exit 2
fi

# The state directory is found from where the deploy put this script: STATE/bin/hardhouse-apply.
BIN=$(cd "$(dirname -- "$0")" && pwd -P) || exit 2
if [ "${BIN##*/}" != "$HH_BIN_DIR" ]; then
    say "this script runs from STATE/$HH_BIN_DIR/ (it finds the state directory from there), not from $BIN"
    exit 2
fi
STATE=$(dirname -- "$BIN")
SERVER_USER=${HARDHOUSE_SERVER_USER:-$HH_SERVER_USER}
SERVICE=${HARDHOUSE_SERVICE:-$HH_SERVICE}
SYSTEMD_DIR=${HARDHOUSE_SYSTEMD_DIR:-/run/systemd/system}
INIT_DIR=${HARDHOUSE_INIT_DIR:-/etc/init.d}
STAGED=$STATE/$HH_STAGED_DIR
MANIFEST=$STAGED/$HH_MANIFEST
PREV=$STATE/$HH_PREVIOUS_DIR
LIVE_TARGETS=$STATE/$HH_LIVE_TARGETS
MARKER=$STATE/$HH_ACTIVATED_AT
HELD=$STATE/$HH_HELD
RUN_UID=$(id -u)

# The service's profile: functions NAME_STEP for each STEP below, one file per service.
# shellcheck source-path=SCRIPTDIR source=lib/apply-clickhouse.sh
. "${0%/*}/lib/apply-clickhouse.sh"
# shellcheck source-path=SCRIPTDIR source=lib/apply-zookeeper.sh
. "${0%/*}/lib/apply-zookeeper.sh"
# shellcheck source-path=SCRIPTDIR source=lib/zookeeper-health.sh
. "${0%/*}/lib/zookeeper-health.sh"
case $HH_PROFILE in
    clickhouse | zookeeper) ;;
    *) say "unknown profile $(shown "$HH_PROFILE") in the contract"; exit 2 ;;
esac
# profile STEP ARG...: the profile's STEP. Steps: setup (PROFILE_NAME, ERRLOG, PROFILE_PATHS:
# its paths from the environment, "NAME=VALUE"; PROFILE_STOP_GRACE: seconds a stopped server
# may take to go before it is stopped by pid), manifest_problems, validate_problems (both
# append to the caller's `problems`), stale (STALE, STALE_KIND), pids (the running server's),
# unit_stops (systemd stops the server itself), stopped, pending MODE (what else a health wait
# waits for, printed), errors (its log's new error lines), fatal (one that ends the wait),
# healthy (after it was seen healthy).
profile() { "${HH_PROFILE}_$1" "${@:2}"; }
profile setup

# Temporary files and directories of this run, removed on exit (a moved one is already gone).
CLEANUP=()
cleanup() { [ ${#CLEANUP[@]} -eq 0 ] || rm -rf -- "${CLEANUP[@]}"; }
trap cleanup EXIT

# One run at a time per state directory: two interleaved activations would back up and
# restore each other's files.
lock_state() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>>"$STATE/$HH_LOCK" || die "cannot open $STATE/$HH_LOCK; nothing changed"
    flock -n 9 || die "another hardhouse-apply is running on $STATE; nothing changed"
}

in_list() {
    local want=$1 item
    shift
    for item in "$@"; do
        [ "$item" = "$want" ] && return 0
    done
    return 1
}

# A path without whitespace, control characters, quotes, $, \, ` or a ".." component: nothing
# a shell or the line-based MANIFEST could split or expand (contract.plain_path, same rule).
plain() {
    case $1 in
        '' | *[[:space:][:cntrl:]]* | *["$HH_UNSAFE_PATH_CHARS"]*) return 1 ;;
    esac
    case /$1/ in
        */../*) return 1 ;;
    esac
}
absolute_plain() { case $1 in /*) plain "$1" ;; *) return 1 ;; esac }
relative_plain() { case $1 in /*) return 1 ;; *) plain "$1" ;; esac }

check_environment() {
    local problems=() pair name value
    for pair in "${PROFILE_PATHS[@]}" \
        "HARDHOUSE_SYSTEMD_DIR=$SYSTEMD_DIR" "HARDHOUSE_INIT_DIR=$INIT_DIR" "the state directory=$STATE"; do
        name=${pair%%=*} value=${pair#*=}
        absolute_plain "$value" || problems+=("$name $(shown "$value") is not a plain absolute path")
    done
    [[ $SERVER_USER =~ ^[a-z_][a-z0-9_-]*$ ]] ||
        problems+=("HARDHOUSE_SERVER_USER $(shown "$SERVER_USER") is not a user name")
    [[ $SERVICE =~ ^[A-Za-z0-9_.@-]+$ ]] || problems+=("HARDHOUSE_SERVICE $(shown "$SERVICE") is not a service name")
    if [ ${#problems[@]} -gt 0 ]; then
        report "refusing to run; nothing changed" "${problems[@]}"
        exit 2
    fi
}

# The MANIFEST, checked as a whole before anything uses it: M_KIND, M_STAGED, M_LIVE, and
# M_LINE (each entry's line number); where each kind may go live is the profile's to say.
load_manifest() {
    local line n=0 fields where kind staged live problems=()
    local -A lives=()
    M_KIND=() M_STAGED=() M_LIVE=() M_LINE=()
    if [ -L "$MANIFEST" ] || [ ! -f "$MANIFEST" ]; then
        die "nothing is staged ($MANIFEST is missing); nothing changed"
    fi
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        where="$HH_MANIFEST line $n"
        read -r -a fields <<<"$line"
        if [ ${#fields[@]} -ne ${#HH_MANIFEST_FORMAT[@]} ]; then
            problems+=("$where: $(shown "$line") is not \"${HH_MANIFEST_FORMAT[*]}\"")
            continue
        fi
        kind=${fields[0]} staged=${fields[1]} live=${fields[2]}
        if ! in_list "$kind" "${HH_MANIFEST_KINDS[@]}"; then
            problems+=("$where: unknown kind $(shown "$kind") (one of ${HH_MANIFEST_KINDS[*]})")
            continue
        fi
        relative_plain "$staged" ||
            problems+=("$where: the staged path $(shown "$staged") must be relative and plain (no whitespace, quotes, \$, \\, \` or ..)")
        absolute_plain "$live" ||
            problems+=("$where: the live path $(shown "$live") must be absolute and plain (no whitespace, quotes, \$, \\, \` or ..)")
        [ -z "${lives[$live]:-}" ] || problems+=("$where: $(shown "$live") is listed twice")
        lives[$live]=1
        M_KIND+=("$kind") M_STAGED+=("$staged") M_LIVE+=("$live") M_LINE+=("$n")
    done <"$MANIFEST"
    [ ${#M_KIND[@]} -gt 0 ] || problems+=("$HH_MANIFEST lists no files")
    profile manifest_problems
    if [ ${#problems[@]} -gt 0 ]; then
        report "$MANIFEST is not usable; nothing changed" "${problems[@]}"
        exit 1
    fi
}

# Why root must not write into directory $1, printed, or nothing: it must be owned by root (the
# user running this) and not writable by group or others, and so must every directory above it,
# except sticky ones like /tmp; otherwise someone else could plant a link or swap a file in.
# Both the path as given and the one its links resolve to are checked.
declare -A DIR_CHECKED=()
dir_problem() {
    local dir=$1 real start d chain owner perm type name
    [ -z "${DIR_CHECKED[$dir]:-}" ] || return 0
    DIR_CHECKED[$dir]=1
    if [ ! -d "$dir" ]; then
        echo "$dir: directory does not exist"
        return
    fi
    real=$(readlink -f -- "$dir")
    for start in "$dir" "$real"; do
        chain=() d=$start
        while :; do
            chain+=("$d")
            [ "$d" = / ] && break
            d=${d%/*} && d=${d:-/}
        done
        while read -r owner perm type name; do
            # A link's own mode means nothing; the directory holding it is checked too.
            (((16#$type & 16#F000) == 16#A000)) && continue
            if [ "$owner" != 0 ] && [ "$owner" != "$RUN_UID" ]; then
                echo "$name is owned by $(id -nu "$owner" 2>/dev/null || echo "$owner"), not root: it could plant a link or file where root writes. Fix: chown root $name"
                return
            fi
            if (((8#$perm & 8#022) != 0)) && { [ "$name" = "$start" ] || (((8#$perm & 8#1000) == 0)); }; then
                echo "$name is writable by group or others (mode $perm): they could plant a link or file where root writes. Fix: chmod go-w $name"
                return
            fi
        done < <(stat -c '%u %a %f %n' -- "${chain[@]}")
    done
}

# Which of the checks "OP PATH ..." (test's -r, -x...) fail as the server user sees them, one
# "OP PATH" a line (paths are plain: one word each): one process for them all, as a runuser per
# check was most of a validation. Returns 1, printing nothing, when the checks could not run:
# then none of them holds.
server_user_failing() {
    local out runner
    # shellcheck disable=SC2016  # $0, $1 and $2 expand in the server user's shell, not here
    local check='while [ $# -gt 1 ]; do test "$1" "$2" || printf "%s %s\n" "$1" "$2"; shift 2; done; echo "$0"'
    [ $# -gt 0 ] || return 0
    if [ "$CALLER_NAME" = "$SERVER_USER" ]; then
        runner=(sh -c "$check")
    elif command -v runuser >/dev/null 2>&1; then
        runner=(runuser -u "$SERVER_USER" -- sh -c "$check")
    else
        runner=(su -s /bin/sh "$SERVER_USER" -c "$check")
    fi
    out=$("${runner[@]}" checked "$@" 2>/dev/null) || return 1
    case $out in
        checked) ;;
        *$'\n'checked) printf '%s\n' "${out%$'\n'checked}" ;;
        *) return 1 ;;
    esac
}

# test $1 $2 as the server user would see it (false, too, when that cannot be checked).
as_server_user() {
    local failing
    failing=$(server_user_failing "$1" "$2") && [ -z "$failing" ]
}

# What must hold before any file goes live, for validate and again right before the swap:
# the staged files are there, and no live path or directory lets root be steered elsewhere.
safety_problems() {
    local i file live dir path
    for dir in "$STATE" "$STAGED"; do
        dir_problem "$dir"
    done
    for i in "${!M_KIND[@]}"; do
        file=$STAGED/${M_STAGED[i]} live=${M_LIVE[i]}
        if [ -L "$file" ]; then
            echo "$live: the staged $file is a symbolic link, not a file"
        elif [ ! -f "$file" ]; then
            echo "$live: not staged"
        else
            dir_problem "${file%/*}"
        fi
        dir=${live%/*}
        dir_problem "${dir:-/}"
        if [ -L "$live" ]; then
            echo "$live is a symbolic link (to $(readlink -- "$live")); hardhouse replaces files and never writes through a link. Fix: remove the link"
        fi
    done
    for path in "${STALE[@]}"; do
        if [ -L "$path" ] || ! plain "$path"; then
            echo "$(shown "$path") looks like an earlier hardhouse file but is a link or has an unusual name. Fix: remove it"
        fi
    done
}

validate() {
    local problems=() problem
    load_manifest
    profile stale
    id -u "$SERVER_USER" >/dev/null 2>&1 || problems+=("the server user $SERVER_USER does not exist (is $PROFILE_NAME installed?)")
    while IFS= read -r problem; do
        [ -n "$problem" ] && problems+=("$problem")
    done < <(safety_problems)
    profile validate_problems
    if [ ${#problems[@]} -gt 0 ]; then
        report "validation failed; nothing went live" "${problems[@]}"
        exit 1
    fi
    echo "hardhouse: staged configuration is valid (${#M_KIND[@]} files)"
}

# Put the bytes of $1 at $2 with owner $3 (uid:gid) and mode $4, atomically: a fresh file
# beside $2 (mktemp: exclusive create, random name, never *.xml, so ClickHouse does not read
# it half-written), then renamed over $2. A rename replaces a link at $2, never follows it.
put() {
    local tmp
    tmp=$(mktemp -- "${2%/*}/.hardhouse-new.XXXXXXXXXX") || return 1
    CLEANUP+=("$tmp")
    cat -- "$1" >"$tmp" && chown -- "$3" "$tmp" && chmod -- "$4" "$tmp" && mv -T -f -- "$tmp" "$2"
}

# A fresh rollback set: previous/INDEX lists every path hardhouse manages now or managed
# before, "N KIND UID GID MODE PATH" (N: the copy in previous/files) or "- KIND - - - PATH"
# (nothing there: a rollback removes it).
backup() {
    local new i n=0 path kind uid gid mode existing=()
    local -A meta_of=()
    rm -rf -- "$STATE/.$HH_PREVIOUS_DIR".*  # a crashed run's half-made set (it may hold a key)
    new=$(mktemp -d -- "$STATE/.$HH_PREVIOUS_DIR.XXXXXXXXXX") || return 1
    CLEANUP+=("$new")
    mkdir -- "$new/files" || return 1
    for path in "${MANAGED[@]}"; do
        if [ -f "$path" ] && [ ! -L "$path" ]; then existing+=("$path"); fi
    done
    # Their owners and modes from one stat (plain paths, one word each: safety_problems refused others).
    if [ ${#existing[@]} -gt 0 ]; then
        while read -r uid gid mode path; do
            meta_of[$path]="$uid $gid $mode"
        done < <(stat -c '%u %g %a %n' -- "${existing[@]}")
    fi
    {
        for i in "${!MANAGED[@]}"; do
            path=${MANAGED[i]} kind=${MANAGED_KIND[i]}
            if [ -f "$path" ] && [ ! -L "$path" ]; then
                n=$((n + 1))
                [ -n "${meta_of[$path]:-}" ] && cat -- "$path" >"$new/files/$n" || return 1
                printf '%s %s %s %s\n' "$n" "$kind" "${meta_of[$path]}" "$path"
            else
                printf -- '- %s - - - %s\n' "$kind" "$path"
            fi
        done
    } >"$new/INDEX" || return 1
    if [ -f "$LIVE_TARGETS" ]; then
        cat -- "$LIVE_TARGETS" >"$new/targets" || return 1
    fi
    rm -rf -- "$PREV" && mv -T -- "$new" "$PREV"
}

install_staged() {
    local i src path owner mode sources=()
    local -A owner_of=() mode_of=()
    for i in "${!M_KIND[@]}"; do sources+=("$STAGED/${M_STAGED[i]}"); done
    # Each staged file's owner and mode, from one stat (paths are plain: one word each).
    while read -r owner mode path; do
        owner_of[$path]=$owner mode_of[$path]=$mode
    done < <(stat -c '%u:%g %a %n' -- "${sources[@]}")
    for i in "${!M_KIND[@]}"; do
        src=$STAGED/${M_STAGED[i]}
        [ -n "${owner_of[$src]:-}" ] || return 1
        put "$src" "${M_LIVE[i]}" "${owner_of[$src]}" "${mode_of[$src]}" || return 1
    done
    for path in "${STALE[@]}"; do
        rm -f -- "$path" || return 1
    done
}

# Put the rollback set back: its files byte for byte with their owner and mode, and remove
# what was not there before. Returns 1 if any path could not be restored.
restore() {
    local failed=0 n uid gid mode path
    while read -r n _ uid gid mode path; do
        if [ "$n" = - ]; then
            if [ -L "$path" ] || [ -f "$path" ]; then
                rm -f -- "$path" || failed=1
            fi
        elif [ -f "$PREV/files/$n" ]; then
            put "$PREV/files/$n" "$path" "$uid:$gid" "$mode" || failed=1
        fi
    done <"$PREV/INDEX"
    return "$failed"
}

# After a successful activation the old private key has no use left: delete it from the set.
retire_keys() {
    local n kind rest tmp
    tmp=$(mktemp -- "$PREV/.INDEX.XXXXXXXXXX") || return 1
    CLEANUP+=("$tmp")
    while read -r n kind rest; do
        if [ "$kind" = "$HH_KIND_PRIVATE_KEY" ] && [ "$n" != - ]; then
            rm -f -- "$PREV/files/$n" || return 1
            n=retired
        fi
        printf '%s %s %s\n' "$n" "$kind" "$rest"
    done <"$PREV/INDEX" >"$tmp" && mv -T -f -- "$tmp" "$PREV/INDEX"
}

# shellcheck source-path=SCRIPTDIR source=lib/service-manager.sh
. "${0%/*}/lib/service-manager.sh"

# Run a service manager command as the caller would: under SysV the server inherits our
# environment, so give it the caller's umask, and not our lock (it would hold it for ever).
as_caller() { (umask "$CALLER_UMASK" && exec "$@" 9>&-); }

# systemd reads unit files (hardhouse's key drop-in among them) only when told to.
reload_units() { as_caller systemctl daemon-reload; }

service_do() {
    if systemd_runs; then
        as_caller systemctl "$1" "$SERVICE"
    elif [ -x "$INIT_DIR/$SERVICE" ]; then
        as_caller "$INIT_DIR/$SERVICE" "$1" >/dev/null
    else
        say "cannot $1 $SERVICE: neither systemd nor $INIT_DIR/$SERVICE is there"
        return 1
    fi
}

# The pids of the server, as the profile finds them.
server_pids() { profile pids; }
running() { server_pids >/dev/null; }

# Wait up to $1 seconds for every server process to exit.
wait_gone() {
    local waited=0
    while running; do
        [ "$waited" -ge "$(($1 * 10))" ] && return 1
        sleep 0.1
        waited=$((waited + 1))
    done
}

# Every server process's executable is hidden from us: readlink /proc/PID/exe fails even as
# root where ptrace is not allowed (containers without CAP_SYS_PTRACE).
exe_hidden() {
    local pid pids
    read -r -a pids <<<"$(server_pids)"
    [ ${#pids[@]} -gt 0 ] || return 1
    for pid in "${pids[@]}"; do
        readlink -- "/proc/$pid/exe" >/dev/null 2>&1 && return 1
    done
    return 0
}

kill_server() {
    local pids
    read -r -a pids <<<"$(server_pids)"
    [ ${#pids[@]} -eq 0 ] || kill "$@" "${pids[@]}" 2>/dev/null
}

# systemd restarts a server whose unit stops it reliably. Debian's SysV script finds the
# server with start-stop-daemon --exec, which cannot read /proc/PID/exe where ptrace is not
# allowed (containers), and then "restarts" by starting a second server that dies on the lock
# of the first: so stop it ourselves when the script did not, by pid, TERM then KILL, before
# starting again (also under systemd when its unit is made of such a script: see the header).
start_server() {
    if systemd_runs; then
        reload_units
    fi
    service_do start
}

restart_server() {
    if systemd_runs && profile unit_stops; then
        reload_units
        as_caller systemctl restart "$SERVICE"
        return
    fi
    stop_server
    start_server
}

stop_server() {
    local gone=0 grace=$PROFILE_STOP_GRACE
    if systemd_runs && profile unit_stops; then
        as_caller systemctl stop "$SERVICE"
        return
    fi
    if [ "$grace" -gt 0 ] && exe_hidden; then
        # start-stop-daemon --exec matches by that link: the init script will stop nothing.
        say "the init script cannot see $SERVICE's executable (/proc/PID/exe is hidden here): stopping it by pid"
        grace=0
    fi
    service_do stop
    # start-stop-daemon waits for what it stops, so anything left was never matched.
    if ! wait_gone "$grace"; then
        kill_server -TERM
        if ! wait_gone 30; then
            kill_server -KILL
            wait_gone 5 || gone=1
        fi
    fi
    profile stopped
    return "$gone"
}

fingerprint_of_file() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }

# KIND:ADDRESS:PORT with a known kind, an IPv4/IPv6 literal and a port number.
target_valid() {
    local kind=${1%%:*} port=${1##*:}
    in_list "$kind" "${HH_HEALTH_KINDS[@]}" && [[ ${1#*:} =~ ^[0-9A-Fa-f:.]+:[0-9]{1,5}$ ]] &&
        [ "$((10#$port))" -ge 1 ] && [ "$((10#$port))" -le 65535 ]
}

# Something listens on the target's port, from the kernel's socket table: no connection is
# made (a bare TCP connect to a TLS port makes the server log an SSL error, which the health
# check reads as fatal). A cheap gate before target_ok's handshake; the address is not checked.
target_listens() {
    local port=${1##*:} table tables=()
    for table in /proc/net/tcp /proc/net/tcp6; do [ -r "$table" ] && tables+=("$table"); done
    [ ${#tables[@]} -gt 0 ] || return 0
    awk -v port="$(printf '%04X' "$((10#$port))")" \
        'FNR > 1 && $4 == "0A" && substr($2, length($2) - 3) == port { found = 1 } END { exit !found }' \
        "${tables[@]}"
}

target_ok() {
    local kind=${1%%:*} rest=${1#*:} host port address served
    port=${rest##*:} host=${rest%:*}
    case $host in *:*) address="[$host]:$port" ;; *) address="$host:$port" ;; esac
    if [ "$kind" = "$HH_HEALTH_TLS" ]; then
        served=$(timeout 5 openssl s_client -connect "$address" </dev/null 2>/dev/null |
            openssl x509 -noout -fingerprint -sha256 2>/dev/null)
        [ -n "$served" ] && { [ -z "$WANT_FINGERPRINT" ] || [ "$served" = "$WANT_FINGERPRINT" ]; }
    elif [ "$kind" = "$HH_HEALTH_TCP" ]; then
        # shellcheck disable=SC2016  # $0 and $1 are the child shell's arguments
        timeout 5 "$BASH" -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
    elif [ "$kind" = "$HH_HEALTH_RUOK" ]; then
        ruok "$host" "$port"
    else
        return 1
    fi
}

# What the server wrote to its log (ERRLOG) since this activation began, at most 1 MB.
new_log() { [ -f "$ERRLOG" ] && tail -c "+$((ERRLOG_OFFSET + 1))" -- "$ERRLOG" 2>/dev/null | head -c 1000000; }

errlog_size() { stat -c %s -- "$ERRLOG" 2>/dev/null || echo 0; }

# Wait until healthy; on failure leave the reason in REASON.
wait_healthy() {
    local mode=$1 timeout=$2 deadline gone_since='' polls=0 pending more target fatal errors
    shift 2
    deadline=$(($(date +%s) + timeout))
    while :; do
        pending=""
        if running; then
            gone_since=''
        else
            gone_since=${gone_since:-$(date +%s)}
            pending="the server process"
        fi
        more=$(profile pending "$mode")
        [ -z "$more" ] || pending="$pending${pending:+, }$more"
        for target in "$@"; do
            # A port that does not accept yet is not worth a TLS handshake (two openssl runs).
            target_listens "$target" && target_ok "$target" || pending="$pending${pending:+, }${target#*:}"
        done
        [ -z "$pending" ] && return 0
        fatal=$(profile fatal)
        if { [ -n "$fatal" ] && [ "$mode" != "$HH_MODE_RELOAD" ]; } ||
            { [ -n "$gone_since" ] && [ $(($(date +%s) - gone_since)) -ge 5 ]; } || [ "$(date +%s)" -ge "$deadline" ]; then
            REASON="not healthy (waiting for: $pending)"
            errors=$(profile errors | tr '\n' ' ')
            [ -n "$errors" ] && REASON="$REASON; the server logged: $errors"
            return 1
        fi
        # Often at first (18.16 listens about 0.1 s after its start), then every half second.
        polls=$((polls + 1))
        if [ "$polls" -le 10 ]; then sleep 0.05; elif [ "$polls" -le 20 ]; then sleep 0.1; else sleep 0.5; fi
    done
}

token_valid() { [[ $1 =~ ^[0-9a-f]+$ ]] && [ ${#1} -eq "$HH_HOLD_TOKEN_HEX_DIGITS" ]; }
timeout_valid() { [[ $1 =~ ^[1-9][0-9]{0,5}$ ]]; }

activate() {
    local mode timeout target problems=() problem was_running=no failure i old_targets=() live_cert='' hold=''
    [ $# -ge 3 ] || usage "activate needs a mode, a timeout and at least one target"
    mode=$1 timeout=$2
    shift 2
    if [ "$1" = "$HH_HOLD_FLAG" ]; then
        [ $# -ge 3 ] || usage "activate $HH_HOLD_FLAG needs a token and at least one target"
        hold=$2
        shift 2
        token_valid "$hold" || problems+=("the hold token is not $HH_HOLD_TOKEN_HEX_DIGITS lower-case hex digits")
    fi
    in_list "$mode" "${HH_MODES[@]}" || problems+=("the mode $(shown "$mode") is not one of ${HH_MODES[*]}")
    timeout_valid "$timeout" || problems+=("TIMEOUT $(shown "$timeout") is not a number of seconds (1 or more)")
    for target in "$@"; do
        target_valid "$target" ||
            problems+=("the target $(shown "$target") is not KIND:ADDRESS:PORT (KIND ${HH_HEALTH_KINDS[*]}, ADDRESS an IP literal)")
    done
    if [ ${#problems[@]} -gt 0 ]; then
        report "activate refused; nothing changed" "${problems[@]}"
        usage
    fi
    load_manifest
    profile stale
    while IFS= read -r problem; do
        [ -n "$problem" ] && problems+=("$problem")
    done < <(safety_problems)
    systemd_runs || [ -x "$INIT_DIR/$SERVICE" ] || problems+=("neither systemd nor $INIT_DIR/$SERVICE is there to $mode $SERVICE")
    if [ ${#problems[@]} -gt 0 ]; then
        report "refusing to activate; nothing changed" "${problems[@]}"
        exit 1
    fi
    MANAGED=("${M_LIVE[@]}" "${STALE[@]}") MANAGED_KIND=("${M_KIND[@]}" "${STALE_KIND[@]}")

    running && was_running=yes
    ERRLOG_OFFSET=$(errlog_size)
    WANT_FINGERPRINT=""
    for i in "${!M_KIND[@]}"; do
        if [ "${M_KIND[i]}" = "$HH_KIND_CERTIFICATE" ]; then
            WANT_FINGERPRINT=$(fingerprint_of_file "$STAGED/${M_STAGED[i]}")
            live_cert=${M_LIVE[i]}
        fi
    done

    # A new activation replaces the rollback set: an older held one can no longer be undone.
    rm -f -- "$HELD"
    backup || die "could not back up the live files into $PREV; nothing changed"
    touch -- "$MARKER"
    # The users reload is seen by mtime, with 1 s resolution on some file systems.
    [ "$mode" = "$HH_MODE_RELOAD" ] && sleep 1
    if ! install_staged; then
        restore || die "ROLLBACK FAILED: could not put the staged files in place, nor all previous files back (see $PREV/INDEX)"
        die "could not put the staged files in place; the previous files were restored"
    fi
    case $mode in
        "$HH_MODE_RESTART") restart_server ;;
        "$HH_MODE_START") start_server ;;
        "$HH_MODE_RELOAD") ;;  # ClickHouse re-reads users.xml and users.d by itself
    esac
    if wait_healthy "$mode" "$timeout" "$@"; then
        profile healthy
        printf '%s\n' "$@" >"$LIVE_TARGETS.new" && mv -T -f -- "$LIVE_TARGETS.new" "$LIVE_TARGETS"
        if [ -n "$hold" ]; then
            # Held for verification: the previous key stays (0600, root) so a rollback can serve again.
            if ! { printf '%s\n' "$hold" >"$HELD.new" && mv -T -f -- "$HELD.new" "$HELD"; }; then
                say "warning: could not record the held activation; it cannot be rolled back"
            fi
        else
            retire_keys || say "warning: could not delete the retired private key from $PREV"
        fi
        case $mode in
            "$HH_MODE_RELOAD") echo "hardhouse: users reloaded without a restart; healthy on $*" ;;
            *) echo "hardhouse: $PROFILE_NAME ${mode}ed with the new configuration; healthy on $*" ;;
        esac
        return 0
    fi

    failure=$REASON
    say "the new configuration is $failure"
    say "rolling back to the previous files"
    if ! restore; then
        # A mix of old and new files is no configuration to restart into: leave the server be.
        die "ROLLBACK FAILED: not every previous file could be put back (see $PREV/INDEX); the server was left as it is. Reason for the rollback: the new configuration was $failure"
    fi
    ERRLOG_OFFSET=$(errlog_size)
    WANT_FINGERPRINT=""
    [ -n "$live_cert" ] && [ -f "$live_cert" ] && WANT_FINGERPRINT=$(fingerprint_of_file "$live_cert")
    if [ "$was_running" = yes ]; then
        restart_server
        if [ -f "$PREV/targets" ]; then
            while IFS= read -r target; do
                target_valid "$target" && old_targets+=("$target")
            done <"$PREV/targets"
        fi
        if wait_healthy "$HH_MODE_RESTART" "$timeout" "${old_targets[@]}"; then
            profile healthy
            die "rolled back: the previous configuration is serving again. Reason: the new configuration was $failure"
        fi
        die "ROLLBACK FAILED: the previous configuration is $REASON. Reason for the rollback: the new configuration was $failure"
    fi
    stop_server >/dev/null 2>&1
    die "rolled back: the previous files are restored and the server is stopped, as it was. Reason: the new configuration was $failure"
}

# Undo the held activation of this deploy run: the rollback set back in place, a restart, and
# the previous targets healthy again.
rollback() {
    local timeout token held='' targets=() target live_cert='' n kind rest path
    [ $# -eq 2 ] || usage "rollback takes a timeout and the run's token"
    timeout=$1 token=$2
    timeout_valid "$timeout" || usage "TIMEOUT $(shown "$timeout") is not a number of seconds (1 or more)"
    token_valid "$token" || usage "the token is not $HH_HOLD_TOKEN_HEX_DIGITS lower-case hex digits"
    [ -f "$HELD" ] && [ ! -L "$HELD" ] && held=$(head -c 100 -- "$HELD")
    [ "$held" = "$token" ] ||
        die "nothing to roll back: no activation of this deploy run is held (none happened, or a later one replaced it); nothing changed"
    [ -f "$PREV/INDEX" ] || die "nothing to roll back to: there is no rollback set in $PREV; nothing changed"
    if [ -f "$PREV/targets" ]; then
        while IFS= read -r target; do
            target_valid "$target" && targets+=("$target")
        done <"$PREV/targets"
    fi
    [ ${#targets[@]} -gt 0 ] ||
        die "not rolled back: the previous configuration was not one hardhouse brought up healthy (the stock configuration is never restored); the new one stays live"
    while read -r n kind rest; do
        path=${rest##* }
        [ "$kind" = "$HH_KIND_CERTIFICATE" ] && [ "$n" != - ] && live_cert=$path
        [ "$kind" = "$HH_KIND_PRIVATE_KEY" ] && [ "$n" = retired ] &&
            die "not rolled back: the previous private key was already retired; the new configuration stays live"
    done <"$PREV/INDEX"
    restore || die "ROLLBACK FAILED: not every previous file could be put back (see $PREV/INDEX)"
    rm -f -- "$HELD"
    ERRLOG_OFFSET=$(errlog_size)
    WANT_FINGERPRINT=""
    [ -n "$live_cert" ] && [ -f "$live_cert" ] && WANT_FINGERPRINT=$(fingerprint_of_file "$live_cert")
    restart_server
    if wait_healthy "$HH_MODE_RESTART" "$timeout" "${targets[@]}"; then
        profile healthy
        printf '%s\n' "${targets[@]}" >"$LIVE_TARGETS.new" && mv -T -f -- "$LIVE_TARGETS.new" "$LIVE_TARGETS"
        echo "hardhouse: rolled back: the previous configuration is serving again on ${targets[*]}"
        return 0
    fi
    die "ROLLBACK FAILED: the previous configuration is $REASON"
}

check_environment
case ${1:-} in validate | activate | rollback) lock_state ;; esac
case ${1:-} in
    validate)
        [ $# -eq 1 ] || usage "validate takes no arguments"
        validate
        ;;
    activate)
        shift
        activate "$@"
        ;;
    rollback)
        shift
        rollback "$@"
        ;;
    *) usage ;;
esac
