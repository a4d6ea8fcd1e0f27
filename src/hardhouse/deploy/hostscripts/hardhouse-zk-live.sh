#!/bin/bash
# hardhouse-zk-live: whether ZooKeeper answers, and whether it runs the configuration on disk;
# reads, never writes. The fact hardhouse.deploy.zookeeper.ZooKeeperLiveFact runs it as
#
#   bash -c TEXT hardhouse-zk-live ADDRESS PORT KEY
#
#   KEY   the digest key of the file report (random per deploy run; pyinfra shows it masked)
#
# Prints ANSWERS when ZooKeeper answers ruok on ADDRESS:PORT; "CONFIG DIGEST", the digest of
# its configuration files now (lib/zookeeper-health.sh); "LIVE DIGEST", the digest hardhouse-apply
# recorded when ZooKeeper last answered after it restarted it (empty when none was); then the
# three files' owner, mode and keyed digest (lib/paths-report.sh), which the deploy compares
# with the staged ones: one command for everything the activation step decides on.
# Exit status: 0.
set -u

# shellcheck source-path=SCRIPTDIR source=lib/zookeeper.sh
. "${0%/*}/lib/zookeeper.sh"
# shellcheck source-path=SCRIPTDIR source=lib/zookeeper-health.sh
. "${0%/*}/lib/zookeeper-health.sh"
# shellcheck source-path=SCRIPTDIR source=lib/paths-report.sh
. "${0%/*}/lib/paths-report.sh"
if ruok "$1" "$2"; then echo ANSWERS; fi
echo "CONFIG $(zookeeper_digest "$HH_ZK_CONFIG" "$HH_ZK_JVM_DEFAULTS" "$HH_ZK_MYID")"
echo "LIVE $(head -c 64 "$HH_ZK_LIVE_STAMP" 2>/dev/null | tr -cd 0-9a-f)"
if [ $# -ge 3 ]; then paths_report "$3" "$HH_ZK_CONFIG" "$HH_ZK_JVM_DEFAULTS" "$HH_ZK_MYID"; fi
