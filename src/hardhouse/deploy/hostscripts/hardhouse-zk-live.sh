#!/bin/bash
# hardhouse-zk-live: whether ZooKeeper answers, and whether it runs the configuration on disk;
# reads, never writes. The fact hardhouse.deploy.zookeeper.ZooKeeperLiveFact runs it as
#
#   bash -c TEXT hardhouse-zk-live ADDRESS PORT
#
# Prints ANSWERS when ZooKeeper answers ruok on ADDRESS:PORT; "CONFIG DIGEST", the digest of
# its configuration files now (lib/zookeeper.sh); "LIVE DIGEST", the digest recorded when it
# last answered after hardhouse-zk-restart (empty when none was).
# Exit status: 0.
set -u

# shellcheck source-path=SCRIPTDIR source=lib/zookeeper.sh
. "${0%/*}/lib/zookeeper.sh"
if ruok "$1" "$2"; then echo ANSWERS; fi
echo "CONFIG $(config_digest)"
echo "LIVE $(head -c 64 "$HH_ZK_LIVE_STAMP" 2>/dev/null | tr -cd 0-9a-f)"
