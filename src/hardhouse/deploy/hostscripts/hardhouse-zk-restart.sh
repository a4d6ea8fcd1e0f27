#!/bin/bash
# hardhouse-zk-restart: restart ZooKeeper and wait until it answers; then record the digest of
# the configuration it answered with. hardhouse.deploy.zookeeper.zookeeper_live runs it as
#
#   bash -c TEXT hardhouse-zk-restart ADDRESS PORT TIMEOUT
#
#   ADDRESS, PORT  where ZooKeeper answers ruok
#   TIMEOUT        seconds to wait for that answer
#
# systemd when it runs (lib/service-manager.sh), else Debian's init script. zookeeperd ships
# only that init script; under systemd, systemd-sysv-generator makes a unit of it with
# KillMode=process, GuessMainPID=no and no PIDFile, so systemd knows no main process and stops
# nothing itself: it runs the same init script, whose stop cannot find the JVM in a container
# (start-stop-daemon --exec reads /proc/PID/exe, which needs ptrace rights). A plain
# `systemctl restart` then leaves the old JVM serving the old configuration and answering ruok
# (seen on a systemd sandbox host). So, under either manager: stop, then the JVM named by its
# pidfile, if owned by the zookeeper user, is stopped by pid, TERM then KILL; then start
# (systemd reloaded first: a package upgrade may have changed the init script its unit is made
# of). Prints nothing on success; on failure the reason (and the tail of ZooKeeper's log) on
# stderr. Nothing is rolled back.
# Environment (tests): HARDHOUSE_SYSTEMD_DIR (systemd's runtime directory), HARDHOUSE_INIT_DIR
# (/etc/init.d), HARDHOUSE_ZK_LOG (ZooKeeper's log).
# Exit status: 0 ZooKeeper answers and the digest is recorded; 1 it failed to restart or to
# answer within TIMEOUT.
set -u

# shellcheck source-path=SCRIPTDIR source=lib/zookeeper.sh
. "${0%/*}/lib/zookeeper.sh"
SYSTEMD_DIR=${HARDHOUSE_SYSTEMD_DIR:-/run/systemd/system}
# shellcheck source-path=SCRIPTDIR source=lib/service-manager.sh
. "${0%/*}/lib/service-manager.sh"
INIT=${HARDHOUSE_INIT_DIR:-/etc/init.d}/zookeeper
LOG=${HARDHOUSE_ZK_LOG:-/var/log/zookeeper/zookeeper.log}
address=$1 port=$2 timeout=$3
alive() { local s; s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$s" ] && [ "$s" != Z ]; }
if systemd_runs; then
    systemctl stop zookeeper >/dev/null 2>&1
else
    "$INIT" stop >/dev/null 2>&1
fi
pid=$(head -c 20 "$HH_ZK_PIDFILE" 2>/dev/null | tr -cd 0-9)
if [ -n "$pid" ] && [ "$(stat -c %U "/proc/$pid" 2>/dev/null)" = zookeeper ]; then
    kill -TERM "$pid" 2>/dev/null
    i=0; while alive "$pid" && [ "$i" -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null
    i=0; while alive "$pid" && [ "$i" -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
fi
rm -f "$HH_ZK_PIDFILE"
if systemd_runs; then
    if ! { systemctl daemon-reload && systemctl start zookeeper; }; then
        echo "hardhouse: systemctl start zookeeper failed" >&2
        exit 1
    fi
elif ! "$INIT" start >/dev/null 2>&1; then
    echo "hardhouse: $INIT start failed" >&2
    exit 1
fi
end=$((SECONDS + timeout))
until ruok "$address" "$port"; do
    if [ "$SECONDS" -ge "$end" ]; then
        echo "hardhouse: ZooKeeper did not answer ruok on $address:$port within ${timeout}s" >&2
        tail -c 3000 "$LOG" >&2 2>/dev/null
        exit 1
    fi
    sleep 0.2
done
mkdir -p "$(dirname "$HH_ZK_LIVE_STAMP")" && config_digest > "$HH_ZK_LIVE_STAMP.tmp" && mv -f "$HH_ZK_LIVE_STAMP.tmp" "$HH_ZK_LIVE_STAMP"
