# shellcheck shell=bash disable=SC2034  # PROFILE_*, STALE*: read by hardhouse-apply, which sources this
# hardhouse-apply's profile of ZooKeeper (HH_PROFILE=zookeeper), Debian's zookeeperd: its three
# files at their fixed places, its validation, its JVM found by the pidfile, the digest of the
# configuration it answered with. The steps are named in hardhouse-apply (profile()); this file
# only defines functions, and uses the script's variables and helpers (say, shown, new_log,
# as_server_user, M_*, problems) and lib/zookeeper-health.sh.

zookeeper_setup() {
    PROFILE_NAME=ZooKeeper
    # Its init script's stop finds no JVM in a container (nor does the unit made of it): the
    # JVM is stopped by pid at once rather than after a grace that could not help.
    PROFILE_STOP_GRACE=0
    ERRLOG=${HARDHOUSE_ZK_LOG:-$HH_ZK_LOG}
    PROFILE_PATHS=("HARDHOUSE_ZK_LOG=$ERRLOG")
}

# Each of the three kinds exactly once, at its fixed place: the recorded digest covers them.
zookeeper_manifest_problems() {
    local i kind want
    local -A seen=()
    for i in "${!M_KIND[@]}"; do
        kind=${M_KIND[i]}
        case $kind in
            "$HH_KIND_ZK_CONFIG") want=$HH_ZK_CONFIG ;;
            "$HH_KIND_ZK_DEFAULTS") want=$HH_ZK_JVM_DEFAULTS ;;
            *) want=$HH_ZK_MYID ;;
        esac
        [ "${M_LIVE[i]}" = "$want" ] ||
            problems+=("$HH_MANIFEST line ${M_LINE[i]}: a $kind file goes live as $want, not $(shown "${M_LIVE[i]}")")
        [ -z "${seen[$kind]:-}" ] || problems+=("$HH_MANIFEST line ${M_LINE[i]}: a second $kind")
        seen[$kind]=1
    done
    for kind in "${HH_MANIFEST_KINDS[@]}"; do
        [ -n "${seen[$kind]:-}" ] || problems+=("$HH_MANIFEST lists no $kind")
    done
}

zookeeper_stale() { STALE=() STALE_KIND=(); }

# The JVM reads zoo.cfg and myid as the zookeeper user (the init script sources the defaults
# as root): they keep their staged owner and mode, which must let it read (the staged copy
# itself sits in root's state directory); zoo.cfg must name a client port and a data
# directory, myid a server id.
zookeeper_validate_problems() {
    local i file live dir owner mode
    for i in "${!M_KIND[@]}"; do
        file=$STAGED/${M_STAGED[i]} live=${M_LIVE[i]}
        [ -f "$file" ] || continue
        read -r owner mode < <(stat -c '%U %a' -- "$file")
        if [ "${M_KIND[i]}" != "$HH_KIND_ZK_DEFAULTS" ] && (((8#$mode & 8#004) == 0)) &&
            { [ "$owner" != "$SERVER_USER" ] || (((8#$mode & 8#400) == 0)); }; then
            problems+=("$live: not readable by $SERVER_USER ($(stat -c '%U:%G %a' -- "$file"))")
        fi
        dir=${live%/*}
        if [ -d "$dir" ] && ! as_server_user -x "$dir"; then
            problems+=("$dir: $SERVER_USER cannot enter it ($(stat -c '%U:%G %a' -- "$dir"))")
        fi
        if [ -e "$live" ] && [ ! -L "$live" ] && [ ! -f "$live" ]; then
            problems+=("$live: exists and is not a file")
        fi
        case ${M_KIND[i]} in
            "$HH_KIND_ZK_CONFIG")
                grep -Eq '^clientPort=[0-9]{1,5}$' -- "$file" || problems+=("$live: names no clientPort=PORT")
                grep -Eq '^dataDir=/' -- "$file" || problems+=("$live: names no dataDir=/ABSOLUTE/PATH")
                ;;
            "$HH_KIND_ZK_MYID")
                [[ $(head -c 100 -- "$file") =~ ^[1-9][0-9]{0,2}$'\n'?$ ]] || problems+=("$live: is not a server id (1 to 255)")
                ;;
        esac
    done
}

# The JVM the pidfile names, if it runs as the zookeeper user (root's process is never
# stopped on a pidfile's word).
zookeeper_pids() {
    local pid state
    pid=$(head -c 20 -- "$HH_ZK_PIDFILE" 2>/dev/null | tr -cd 0-9)
    [ -n "$pid" ] && [ "$(stat -c %U "/proc/$pid" 2>/dev/null)" = "$SERVER_USER" ] || return 1
    state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] && echo "$pid"
}

# The unit systemd makes of zookeeperd's init script stops nothing itself (see the header).
zookeeper_unit_stops() { return 1; }
# A stale pidfile would name a pid that may be reused.
zookeeper_stopped() { rm -f -- "$HH_ZK_PIDFILE"; }
zookeeper_pending() { :; }

# ZooKeeper's log lines since this activation began that say what went wrong.
zookeeper_errors() { new_log | grep -E 'ERROR|Exception' | cut -c1-300 | tail -n 3; }
# ZooKeeper logs "..., exiting abnormally" as its JVM gives up (a client address it cannot
# bind, an unusable data directory, a bad config): the wait ends there, not 5 s after the exit.
zookeeper_fatal() { zookeeper_errors | grep -E 'exiting abnormally|BindException' | tail -n 1; }

# The configuration ZooKeeper answered with: hardhouse-zk-live compares it with the files.
zookeeper_healthy() {
    local stamp=$HH_ZK_LIVE_STAMP
    if ! { mkdir -p -- "${stamp%/*}" &&
        zookeeper_digest "$HH_ZK_CONFIG" "$HH_ZK_JVM_DEFAULTS" "$HH_ZK_MYID" >"$stamp.new" &&
        mv -f -- "$stamp.new" "$stamp"; }; then
        say "warning: could not record the configuration ZooKeeper answered with in $stamp"
    fi
}
